# Shared by the benchmarks: side-by-side timing and ratios.
# The two sides are interleaved round by round (A B A B ...) so drift in the
# machine's load hits both alike; each side's median is reported.

_ms_once() { # CMD... -> elapsed ms of one run
  local s e
  s=$(date +%s%N)
  "$@" >/dev/null
  e=$(date +%s%N)
  echo $(( (e - s) / 1000 ))
}

_median() { sort -n | awk '{a[NR]=$1} END {printf "%.2f\n", a[int((NR+1)/2)]/1000}'; }

# compare ROUNDS FN_A FN_B -> "median_a median_b" (ms); FN_* are shell functions
compare() {
  local rounds=$1 a=$2 b=$3 ta=() tb=()
  for ((r = 0; r < rounds; r++)); do
    ta+=("$(_ms_once "$a")")
    tb+=("$(_ms_once "$b")")
  done
  echo "$(printf '%s\n' "${ta[@]}" | _median) $(printf '%s\n' "${tb[@]}" | _median)"
}

# ratio A B: A / B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# row NAME MS BASE_MS BASE_NAME TARGET [WHO]: one aligned result line; WHO
# (default drun) is what was timed against the base
row() {
  printf '%-34s %-5s %9.2f ms   %-10s %9.2f ms   ratio %5sx   (target %s)\n' "$1" "${6:-drun}" "$2" "$4" "$3" "$(ratio "$2" "$3")" "$5"
}

# fill_sqlite_ledger DB N: N deployments (five steps each) into a drun sqlite
# ledger, ten minutes apart from 2024-01-01: every tenth failed, every 97th
# rolled back, three services over three environments
fill_sqlite_ledger() {
  sqlite3 "$1" <<SQL
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
INSERT INTO deployment_history (id, service, environment, recipe, version, build_number, full_version,
  git_commit, git_branch, deployed_at, deployed_by, finished_at, status, deployment_duration, metadata)
SELECT printf('01M%023d', i),
  CASE i % 3 WHEN 0 THEN 'cms' WHEN 1 THEN 'mcp' ELSE 'docs' END,
  CASE i % 4 WHEN 0 THEN 'production' WHEN 1 THEN 'staging' ELSE 'development' END,
  'cms-prod', printf('1.%d.%d', i / 1000, i % 10), i, printf('1.%d.%d+build.%d', i / 1000, i % 10, i),
  printf('%040x', i * 2654435761), 'main',
  strftime('%Y-%m-%dT%H:%M:%fZ', '2024-01-01', printf('+%d seconds', i * 600)), 'bench',
  strftime('%Y-%m-%dT%H:%M:%fZ', '2024-01-01', printf('+%d seconds', i * 600 + 90)),
  CASE WHEN i % 10 = 0 THEN 'failed' WHEN i % 97 = 0 THEN 'rollback' ELSE 'success' END,
  30000 + (i * 7919) % 90000, '{"image_digest":"sha256:0"}'
FROM n;
INSERT INTO deployment_steps (deployment_id, seq, name, status, started_at, finished_at, duration_ms)
SELECT d.id, s.k, 'step' || s.k, 'success', d.deployed_at, d.finished_at, 1000
FROM deployment_history d, (SELECT 1 k UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5) s;
COMMIT;
SQL
}
