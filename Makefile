# drun — GNU make + pkg-config. `make help` lists the targets.
PREFIX  ?= /usr/local
CC      ?= cc
PKG     ?= pkg-config

# Linked at start-up: cheap to load. libcurl and libgit2 drag in ~40 shared
# libraries (~7 ms of dynamic loading), so they are dlopen()ed by soname the
# first time a recipe needs HTTP or git (runtime/dynlib.c); libpq likewise,
# the first time a ledger is on PostgreSQL, and libmicrohttpd for ledger serve.
LINKED  := lua5.4 sqlite3
LAZY    := libcurl libgit2 libpq libmicrohttpd

ifneq ($(filter asan,$(MAKECMDGOALS)),)
SANITIZE := 1
endif
# FUZZ=1: the runtime built by clang for libFuzzer (make fuzz, and the short
# fuzz runs of make test), in build/fuzz.
ifeq ($(FUZZ),1)
CC       := clang
B        := build/fuzz
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(SANITIZE),1)
B        := build/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
B        := build
SANFLAGS :=
endif

# soname of a pkg-config library, resolved at build time for dlopen().
soname = $(shell readelf -d "$$($(PKG) --variable=libdir $(1))/$(2).so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wno-unused-parameter $(SANFLAGS)
CPPFLAGS = -D_GNU_SOURCE -Iruntime -I$(B)/gen $(shell $(PKG) --cflags $(LINKED) $(LAZY) 2>/dev/null) \
            -DDRUN_CURL_SONAME='"$(call soname,libcurl,libcurl)"' \
            -DDRUN_GIT2_SONAME='"$(call soname,libgit2,libgit2)"' \
            -DDRUN_PQ_SONAME='"$(call soname,libpq,libpq)"' \
            -DDRUN_MHD_SONAME='"$(call soname,libmicrohttpd,libmicrohttpd)"'
LDFLAGS += $(SANFLAGS)
# Recursive (=), not :=, so pkg-config is asked when a recipe runs: on a fresh
# machine `make test` parses this file before its deps step installed them.
LDLIBS   = $(shell $(PKG) --libs $(LINKED) 2>/dev/null) -ldl -lm

# Sources: runtime/*.c, split into the lua-free helpers (unit-testable) and the
# Lua bindings (l_*.c) plus the host.
RT_ALL   := $(wildcard runtime/*.c)
RT_LUA   := $(filter runtime/l_%.c,$(RT_ALL)) runtime/host.c runtime/main.c runtime/modules.c
RT_PLAIN := $(filter-out $(RT_LUA),$(RT_ALL))
STDLIB   := $(sort $(shell find stdlib -name '*.lua'))
# what `drun init` writes: the shipped configs and one-line recipes, as text
TEMPLATES := $(sort $(wildcard recipes/cms-*.lua recipes/compose-*.lua recipes/fly-*.lua recipes/docs-*.lua))
# the LuaLS stubs of drun's modules, which `drun init` writes for editors
TYPES     := $(sort $(wildcard types/*.lua))

OBJ_PLAIN := $(RT_PLAIN:%.c=$(B)/obj/%.o)
OBJ_LUA   := $(RT_LUA:%.c=$(B)/obj/%.o)
CTESTS    := $(patsubst tests/c/%.c,$(B)/tests/%,$(wildcard tests/c/test_*.c))
FUZZERS   := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60

.PHONY: all asan deps test demo bench install uninstall clean help fuzz fuzzers FORCE
# the man page and completions come from the CLI's one specification
# (drun.cli.spec), printed by the drun just built
SHELLS := bash zsh fish
all: $(B)/drun $(B)/drun.1 $(SHELLS:%=$(B)/completion/drun.%)

$(B)/drun.1: $(B)/drun
	$(B)/drun man > $@.tmp && mv $@.tmp $@

$(B)/completion/drun.%: $(B)/drun
	@mkdir -p $(dir $@)
	$(B)/drun completion $* > $@.tmp && mv $@.tmp $@

asan: all
	@:

help:
	@echo "make            build $(B)/drun"
	@echo "make deps       install the missing Debian packages (vendor/debian-*packages.txt)"
	@echo "make test       deps + build + C unit, Lua and end-to-end tests"
	@echo "make asan test  the same under AddressSanitizer + UBSan (build/asan/)"
	@echo "make demo       deps + build + the CMS flow against the local platform sandbox"
	@echo "make bench      benchmarks in bench/, side by side with their baselines"
	@echo "make fuzz       libFuzzer targets (tests/fuzz), FUZZ_SECONDS each (60); make test runs them briefly"
	@echo "make install PREFIX=/usr/local"
	@echo "make deb        $(B)/drun_<version>_<arch>.deb, its Depends the libraries drun links and dlopen()s"

deps:
	@tools/deps vendor/debian-build-packages.txt
	@tools/deps vendor/debian-packages.txt
	@tools/deps-npm tests/sandbox

$(B)/drun: $(OBJ_PLAIN) $(OBJ_LUA) $(B)/obj/stdlib_embed.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/obj/%.o: %.c | $(B)/gen/drun_version.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# The stdlib is compiled to bytecode and into the binary by our own generator
# (no xxd, no lua interpreter).
$(B)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra $(shell $(PKG) --cflags lua5.4) -o $@ $< $(shell $(PKG) --libs lua5.4)

# The CLI is built on Debian's lua-argparse (make deps), embedded as module
# "argparse" (with DRUN_STDLIB_DIR it comes from Lua's own path).
ARGPARSE ?= /usr/share/lua/5.4/argparse.lua
$(ARGPARSE):
	@echo "make: $@ is missing: make deps installs lua-argparse" >&2; exit 1

$(B)/gen/stdlib_embed.c: $(B)/tools/embed $(STDLIB) $(TEMPLATES) $(TYPES) $(ARGPARSE)
	@mkdir -p $(dir $@)
	$(B)/tools/embed stdlib $(STDLIB) argparse=$(ARGPARSE) --text drun.recipes $(TEMPLATES) --text drun.types $(TYPES) > $@.tmp && mv $@.tmp $@

$(B)/obj/stdlib_embed.o: $(B)/gen/stdlib_embed.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Version from git describe; the header is rewritten only when it changes.
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-unknown)
$(B)/gen/drun_version.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define DRUN_VERSION "$(VERSION)"' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

# C unit tests link only the lua-free helpers they test.
$(B)/tests/%: tests/c/%.c tests/c/check.h $(OBJ_PLAIN)
	@mkdir -p $(dir $@)
	@$(CC) $(CPPFLAGS) -Itests/c $(CFLAGS) $(LDFLAGS) -o $@ $< $(OBJ_PLAIN) $(LDLIBS)

# libFuzzer targets: each links the whole runtime but main.c (libFuzzer has
# its own main).
$(B)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_lua.h $(OBJ_PLAIN) $(filter-out $(B)/obj/runtime/main.o,$(OBJ_LUA)) $(B)/obj/stdlib_embed.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/fuzz $(CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $(filter-out %.h,$^) $(LDLIBS)

fuzzers: $(FUZZERS:%=$(B)/fuzz/%)

fuzz: deps
	@$(MAKE) -s --no-print-directory FUZZ=1 fuzzers
	@for f in $(FUZZERS); do tests/fuzz/run build/fuzz $${f#fuzz_} $(FUZZ_SECONDS) || exit 1; done

# Under the sanitizers, leaks inside third-party libraries that drun cannot
# free are suppressed by name in tests/lsan.supp (each with its reason).
# The fuzz targets are built too (clang, build/fuzz) and run a few seconds
# each by tests/run, so a regression on a known input shows in every run.
test: deps all $(CTESTS)
	@$(MAKE) -s --no-print-directory FUZZ=1 fuzzers
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp tests/run $(B)

demo: deps all
	@tools/demo $(B)

bench: all
	@bench/run $(B)/drun

# where bash-completion, zsh and fish look for a package's completions
install: all
	install -D -m 755 $(B)/drun $(DESTDIR)$(PREFIX)/bin/drun
	install -D -m 644 $(B)/drun.1 $(DESTDIR)$(PREFIX)/share/man/man1/drun.1
	install -D -m 644 $(B)/completion/drun.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/drun
	install -D -m 644 $(B)/completion/drun.zsh $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_drun
	install -D -m 644 $(B)/completion/drun.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/drun.fish

# drun_<version>_<arch>.deb in $(B)/: `apt install ./$(B)/drun_*.deb` brings
# the libraries drun links and those it loads on first use (tools/deb).
deb: all
	@tools/deb $(B) $(B)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/drun $(DESTDIR)$(PREFIX)/share/man/man1/drun.1 \
	      $(DESTDIR)$(PREFIX)/share/bash-completion/completions/drun $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_drun \
	      $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/drun.fish

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
