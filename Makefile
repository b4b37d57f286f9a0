# Terminus — the front door. `make run` and `make test` work on a fresh Debian 12 as root.
#
#   make            build bin/terminus-api and bin/terminus-worker
#   make run        private PostgreSQL under .terminus/, migrate, seed, API + workers + demo UI
#                   (TERMINUS_UI=0 without the UI; Ctrl-C stops everything)
#   make test       unit + integration + end-to-end + browser suites against throw-away databases
#   make ui         build the demo UI (frontend/); make ui-test its unit tests
#   make fuzz       build the libFuzzer targets (clang) and run each FUZZ_SECONDS (60)
#   make sanitize   the same suites with an ASan+UBSan build
#   make format / format-check / clean

SHELL    := /bin/bash
CC       ?= cc
BUILD    ?= build/release
BIN      ?= bin
SANITIZE ?= 0

PKGS     := libmicrohttpd jansson libpq uuid openssl
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
            -Wwrite-strings -Wvla -Wundef -Wpointer-arith -Wcast-qual -Wnull-dereference \
            -Wimplicit-fallthrough -fno-common
CFLAGS   := -std=c17 -D_GNU_SOURCE -Iinclude -I$(BUILD)/gen $(WARN) -g -pthread \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm
ifeq ($(SANITIZE),1)
CFLAGS   += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else ifeq ($(SANITIZE),fuzz)
# libFuzzer (clang): the library instrumented for coverage, with ASan and UBSan.
CFLAGS   += -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
            -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=fuzzer,address,undefined
else
CFLAGS   += -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDFLAGS  += -pie -Wl,-z,relro,-z,now
endif

CORE_SRC := $(wildcard src/*.c)
CORE_OBJ := $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/migrations_gen.o
LIB      := $(BUILD)/libterminus.a
BINS     := $(BIN)/terminus-api $(BIN)/terminus-worker
.DEFAULT_GOAL := all
# terminus-load (load generator, chaos runner, invariant checker) lives in load/ with its own
# rules in load/load.mk, which adds to BINS.
-include load/load.mk

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BIN)/tests/%)
IT_SRC   := $(wildcard tests/integration/itest_*.c)
IT_BIN   := $(IT_SRC:tests/integration/%.c=$(BIN)/tests/%)
IT_LIB   := $(patsubst tests/integration/%.c,$(BUILD)/obj/tests/%.o,$(filter-out $(IT_SRC),$(wildcard tests/integration/*.c)))

.SECONDARY:

.PHONY: all binaries deps deps-ui deps-test run test sanitize format format-check clean tests bench \
        ui ui-test fuzz fuzzers
# pkg-config flags are read when make starts, so the build runs in a second make, after deps
# has installed what was missing.
all: deps
	@$(MAKE) --no-print-directory binaries

binaries: $(BINS)

deps:
	@scripts/deps.sh

# What the demo UI needs (Node.js, npm), and what make test needs besides (Chromium for the
# browser tests, clang for the fuzzers).
deps-ui:
	@scripts/deps.sh ui

deps-test:
	@scripts/deps.sh ui browser fuzz

$(BUILD)/gen/migrations_gen.c: $(wildcard migrations/*.sql) scripts/embed-migrations.sh
	@mkdir -p $(@D)
	scripts/embed-migrations.sh $@

$(BUILD)/obj/migrations_gen.o: $(BUILD)/gen/migrations_gen.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/bin/%.o: src/bin/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/%: $(BUILD)/obj/bin/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/integration/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libcurl) -c $< -o $@

$(BIN)/tests/test_%: $(BUILD)/obj/tests/test_%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BIN)/tests/itest_%: $(BUILD)/obj/tests/itest_%.o $(IT_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcurl) -lcmocka

tests: $(BINS) $(UNIT_BIN) $(IT_BIN)

# Fuzz targets (fuzz/fuzz_*.c, libFuzzer) for the parsers of untrusted input; built by make fuzz
# with clang into build/fuzz/, each run for FUZZ_SECONDS from its seed corpus (fuzz/corpus/).
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(BIN)/fuzz/%)
FUZZ_SECONDS ?= 60
# Each target's short run in make test.
TEST_FUZZ_SECONDS ?= 5

$(BUILD)/obj/fuzz/%.o: fuzz/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BIN)/fuzz/%: $(BUILD)/obj/fuzz/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

fuzzers: $(FUZZ_BIN)

fuzz: deps-test
	@$(MAKE) --no-print-directory CC=clang BUILD=build/fuzz BIN=build/fuzz/bin SANITIZE=fuzz fuzzers
	scripts/fuzz.sh build/fuzz/bin $(FUZZ_SECONDS)

# The demo UI (frontend/, Next.js): npm ci when the lock file changed, next build when a source
# did; both are skipped when nothing changed. Telemetry off.
UI_SRC := $(shell find frontend/app frontend/components frontend/lib -type f 2>/dev/null) \
          frontend/next.config.mjs frontend/tsconfig.json
export NEXT_TELEMETRY_DISABLED := 1

frontend/node_modules/.package-lock.json: frontend/package-lock.json frontend/package.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

frontend/.next/BUILD_ID: frontend/node_modules/.package-lock.json $(UI_SRC)
	cd frontend && node_modules/.bin/next build
	@touch $@

ui: deps-ui
	@$(MAKE) --no-print-directory frontend/.next/BUILD_ID

# The UI's own logic (API client, keys, cart, proxy policy) with vitest; the browser tests are
# the itest_ui suite of make test.
ui-test: ui
	cd frontend && node_modules/.bin/tsc --noEmit && node_modules/.bin/vitest run

# The whole suite: unit tests, then each integration suite against its own database
# on a private PostgreSQL cluster that tests/run.sh starts and removes.
test: deps-test
	$(MAKE) tests frontend/.next/BUILD_ID
	scripts/check-links.sh
	scripts/check-layers.sh $(BIN)
	cd frontend && node_modules/.bin/tsc --noEmit && node_modules/.bin/vitest run
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	tests/run.sh $(BIN)

sanitize: deps-test
	$(MAKE) BUILD=build/san BIN=build/san/bin SANITIZE=1 tests
	$(MAKE) frontend/.next/BUILD_ID
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		tests/run.sh build/san/bin

# TERMINUS_UI=0 make run: without the demo UI (nothing of Node.js is needed then).
run: all
	$(if $(filter 0,$(TERMINUS_UI)),,@$(MAKE) --no-print-directory ui)
	scripts/run.sh

# The checkout's throughput — pgbench ceiling, API sync and async, worker drain — with ratios, on
# a private cluster; writes bench/results/<date>.json (docs/benchmarks.md).
bench: all
	bench/run.sh $(BIN)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build bin frontend/.next

-include $(shell find build -name '*.d' 2>/dev/null)
