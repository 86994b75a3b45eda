# MikataVault: `make test` and `make run` are all the set-up a fresh Debian machine with Swift needs.
SWIFT      ?= swift
STORE      ?= ./mikata-data
BUILD_FLAGS ?=
# Tests run in parallel workers; two cores here.
TEST_FLAGS ?= --parallel --num-workers 2

.PHONY: all deps build test run demo bench clean

all: build

# Installs libsodium's headers and pkg-config file when missing; silent when present.
deps:
	@pkg-config --exists libsodium 2>/dev/null || { \
	  echo "make: installing libsodium-dev (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libsodium-dev >/dev/null; }

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

test: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(TEST_FLAGS)

# Until the HTTP service exists, `make run` is a guided demo on a throwaway store.
run: build
	@bash scripts/demo.sh "$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/mikata"

bench: deps
	$(SWIFT) build -c release --product MikataBench
	"$$($(SWIFT) build -c release --show-bin-path)/MikataBench" --out docs/BENCHMARKS.md

clean:
	rm -rf .build
