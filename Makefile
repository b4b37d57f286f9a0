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
CFLAGS   := -std=c17 -D_GNU_SOURCE $(WARN) -g -pthread \
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

# One library per layer; each layer's sources see only the headers of the layers below it, and a
# binary links only the libraries it may use, so a forbidden dependency fails the build:
#   src/core/   domain, database, outbox, events, flags, idempotency, invariants (include/core/)
#                 -> libterminus-core.a
#   src/http/   request server, replies, metrics listener; knows no route (include/http/)
#                 -> libterminus-http.a
#   src/api/    routes, handlers, admission, seed; main.c     -> bin/terminus-api
#   src/worker/ the outbox worker; main.c                     -> bin/terminus-worker
#   src/load/   load generator, chaos runner, invariant checker -> bin/terminus-load (load.mk)
INC_CORE   := -Iinclude/core
INC_HTTP   := $(INC_CORE) -Iinclude/http
CORE_SRC   := $(wildcard src/core/*.c)
CORE_OBJ   := $(CORE_SRC:src/%.c=$(BUILD)/obj/src/%.o) $(BUILD)/obj/src/core/migrations_gen.o
HTTP_OBJ   := $(patsubst src/%.c,$(BUILD)/obj/src/%.o,$(wildcard src/http/*.c))
API_OBJ    := $(patsubst src/%.c,$(BUILD)/obj/src/%.o,$(filter-out src/api/main.c,$(wildcard src/api/*.c)))
WORKER_OBJ := $(patsubst src/%.c,$(BUILD)/obj/src/%.o,$(filter-out src/worker/main.c,$(wildcard src/worker/*.c)))
CORE_LIB   := $(BUILD)/lib/libterminus-core.a
HTTP_LIB   := $(BUILD)/lib/libterminus-http.a
# The API's and the worker's code without their main, for the tests and fuzz targets.
API_LIB    := $(BUILD)/lib/libterminus-api.a
WORKER_LIB := $(BUILD)/lib/libterminus-worker.a
BINS       := $(BIN)/terminus-api $(BIN)/terminus-worker
.DEFAULT_GOAL := all
-include src/load/load.mk

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BIN)/tests/%)
IT_SRC   := $(wildcard tests/integration/itest_*.c)
IT_BIN   := $(IT_SRC:tests/integration/%.c=$(BIN)/tests/%)
IT_LIB   := $(patsubst tests/integration/%.c,$(BUILD)/obj/tests/%.o,$(filter-out $(IT_SRC),$(wildcard tests/integration/*.c)))

# Test and fuzz objects are reached only through pattern rules: kept, not deleted as
# intermediates. (Not a bare .SECONDARY: for every target, which would let make skip a missing
# object whose binary looks newer than its sources.)
.SECONDARY: $(UNIT_SRC:tests/unit/%.c=$(BUILD)/obj/tests/%.o) \
            $(IT_SRC:tests/integration/%.c=$(BUILD)/obj/tests/%.o) \
            $(patsubst fuzz/%.c,$(BUILD)/obj/fuzz/%.o,$(wildcard fuzz/fuzz_*.c)) \
            $(BUILD)/gen/migrations_gen.c

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

$(BUILD)/obj/src/core/migrations_gen.o: $(BUILD)/gen/migrations_gen.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_CORE) -c $< -o $@

$(BUILD)/obj/src/core/%.o: src/core/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_CORE) -c $< -o $@

$(BUILD)/obj/src/http/%.o: src/http/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_HTTP) -c $< -o $@

$(BUILD)/obj/src/api/%.o: src/api/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_HTTP) -Isrc/api -c $< -o $@

$(BUILD)/obj/src/worker/%.o: src/worker/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_HTTP) -Isrc/worker -c $< -o $@

$(BUILD)/lib/%.a:
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^

$(CORE_LIB): $(CORE_OBJ)
$(HTTP_LIB): $(HTTP_OBJ)
$(API_LIB): $(API_OBJ)
$(WORKER_LIB): $(WORKER_OBJ)

# Link order is the layering: a library may use only those after it.
$(BIN)/terminus-api: $(BUILD)/obj/src/api/main.o $(API_LIB) $(HTTP_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/terminus-worker: $(BUILD)/obj/src/worker/main.o $(WORKER_LIB) $(HTTP_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests and fuzz targets see every layer (unit tests reach the API's router and rate limiter).
TEST_INC  := $(INC_HTTP) -Isrc/api -Isrc/worker
TEST_LIBS := $(API_LIB) $(WORKER_LIB) $(HTTP_LIB) $(CORE_LIB)

$(BUILD)/obj/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(TEST_INC) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/integration/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(TEST_INC) $(shell pkg-config --cflags libcurl) -c $< -o $@

$(BIN)/tests/test_%: $(BUILD)/obj/tests/test_%.o $(TEST_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BIN)/tests/itest_%: $(BUILD)/obj/tests/itest_%.o $(IT_LIB) $(TEST_LIBS)
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
	$(CC) $(CFLAGS) $(TEST_INC) -c $< -o $@

$(BIN)/fuzz/%: $(BUILD)/obj/fuzz/%.o $(TEST_LIBS)
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
	scripts/check-layers.sh $(BIN) $(BUILD)
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
