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
