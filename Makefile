# MikataVault: `make test` and `make run` are all the set-up a fresh Debian machine with Swift needs.
SWIFT      ?= swift
BUILD_FLAGS ?=
# Swift Testing runs tests in parallel by itself.
TEST_FLAGS ?=
# The HTTP suites run in a test process of their own. The CLI, torture and I/O-fault suites wait for child processes
# synchronously (one I/O-fault test runs 331 `mikata` processes in about 40 s), and on 2 cores two such waits hold the
# whole of Swift's cooperative pool: an in-process server's handlers then cannot run, and its test client gives up
# after 20 s (HummingbirdTesting's fixed read timeout) or an admin's TOTP step passes. Seen about once in six runs.
SERVER_TESTS := MikataServerTests

.PHONY: all deps build test run demo bench bench-server clean torture fuzz fuzz-ci examples

all: build

# Installs libsodium's headers and pkg-config file, strace (the torture and I/O-error tests inject kills and faults
# with it), fhir.resources (PyPI: validates the FHIR export), msmtp (apt: sends missed-dose notices) and aiosmtpd
# (PyPI: the notice tests' SMTP sink) when missing; silent when present.
deps:
	@pkg-config --exists libsodium 2>/dev/null || { \
	  echo "make: installing libsodium-dev and pkg-config (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libsodium-dev pkg-config >/dev/null; }
	@python3 -c 'import fhir.resources.R4B.bundle' 2>/dev/null || { \
	  echo "make: installing fhir.resources (pip; the FHIR export's independent validator)"; \
	  python3 -m pip install -q --disable-pip-version-check fhir.resources==7.1.0 >/dev/null; }
	@command -v msmtp >/dev/null 2>&1 || { \
	  echo "make: installing msmtp (apt; missed-dose notices leave through it)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq msmtp >/dev/null; }
	@python3 -c 'import aiosmtpd' 2>/dev/null || { \
	  echo "make: installing aiosmtpd (pip; the notice tests' local SMTP sink)"; \
	  python3 -m pip install -q --disable-pip-version-check aiosmtpd==1.4.6 >/dev/null; }
	@command -v strace >/dev/null 2>&1 || { \
	  echo "make: installing strace (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq strace >/dev/null; }

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

# Everything but the long runs: the unit, vector, golden, corruption, crash-loop, fault-injection and property tests,
# after a short bounded fuzzing pass (make fuzz and make torture run the long ones; docs/RELIABILITY.md).
# Tests keep the root keys of their throwaway stores in the build folder, not in ~/.config (docs/OPERATIONS.md).
# Then schemathesis against a live `mikata serve` with docs/openapi.yaml (scripts/schemathesis.sh; pip installs it).
TEST_ROOT_KEYS ?= $(CURDIR)/.build/test-root-keys

test: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	FUZZ_SECONDS=$(FUZZ_CI_SECONDS) MIKATA_ROOT_KEY_DIR=$(TEST_ROOT_KEYS) bash scripts/fuzz.sh run
	MIKATA_ROOT_KEY_DIR=$(TEST_ROOT_KEYS) $(SWIFT) test --skip-build --skip $(SERVER_TESTS) $(TEST_FLAGS)
	MIKATA_ROOT_KEY_DIR=$(TEST_ROOT_KEYS) $(SWIFT) test --skip-build --filter $(SERVER_TESTS) $(TEST_FLAGS)
	bash scripts/schemathesis.sh "$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/mikata"
	$(MAKE) --no-print-directory examples

# The DocC "Getting started" article's code: a package of its own that uses only the public API, built and run.
examples: deps
	$(SWIFT) run $(BUILD_FLAGS) --package-path Examples/GettingStarted GettingStarted

# The HTTP service on 127.0.0.1:8080 over ./mikata-data (created with its root key on first start, as `mikata init`
# does); prints where it listens and a curl tour. Ctrl-C stops it gracefully. Settings: docs/OPERATIONS.md.
RUN_LISTEN ?= 127.0.0.1:8080
RUN_STORE ?= ./mikata-data
run: build
	@"$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/mikata" serve --listen $(RUN_LISTEN) --store $(RUN_STORE)

# The command-line tour on a throwaway store (every CLI use case once).
demo: build
	@bash scripts/demo.sh "$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/mikata"

bench: deps
	$(SWIFT) build -c release --product MikataBench
	$(SWIFT) build -c release --product mikata
	@! grep -qa MIKATA_CRASH_AT "$$($(SWIFT) build -c release --show-bin-path)/mikata" || { echo "release mikata contains a crash point (docs/RELIABILITY.md)"; exit 1; }
	"$$($(SWIFT) build -c release --show-bin-path)/MikataBench" --out docs/BENCHMARKS.md

# The HTTP service under load (docs/BENCHMARKS.md, "HTTP service"): the release `mikata serve` driven by wrk, beside
# PostgreSQL 15's durable single-row inserts (pgbench) in the same run; wrk, postgresql-15, eatmydata (the informative
# appends without fsync) and python3 come from apt when absent.
BENCH_SERVER_SECONDS ?= 20
bench-server: deps
	@command -v wrk >/dev/null 2>&1 && command -v eatmydata >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1 && { command -v pgbench >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1; } || { \
	  echo "make: installing wrk, postgresql-15 and eatmydata (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk postgresql-15 eatmydata python3 >/dev/null; }
	$(SWIFT) build -c release --product mikata
	@! grep -qa MIKATA_CRASH_AT "$$($(SWIFT) build -c release --show-bin-path)/mikata" || { echo "release mikata contains a crash point (docs/RELIABILITY.md)"; exit 1; }
	python3 scripts/bench_server.py --mikata "$$($(SWIFT) build -c release --show-bin-path)/mikata" \
	  --seconds $(BENCH_SERVER_SECONDS) --out docs/BENCHMARKS.md

# The long crash loop (docs/RELIABILITY.md): more seeded SIGKILL runs than `make test` does.
TORTURE_SEEDS ?= 2000
torture: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	MIKATA_ROOT_KEY_DIR=$(TEST_ROOT_KEYS) TORTURE_SEEDS=$(TORTURE_SEEDS) $(SWIFT) test --skip-build --filter 'Torture|PowerLoss|IOError'

clean:
	rm -rf .build

# libFuzzer + AddressSanitizer on every parser of outside bytes (docs/RELIABILITY.md), FUZZ_SECONDS per target.
# Seeds come from fixtures/fuzz/ (copied to .build-fuzz/corpus/, never modified); findings go to
# .build-fuzz/crashes/<target>/ and fail the run. Built by scripts/fuzz.sh with swiftc, not SwiftPM.
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 10

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh run

fuzz-ci: deps
	FUZZ_SECONDS=$(FUZZ_CI_SECONDS) bash scripts/fuzz.sh run
