# cutover — the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
GO           ?= go
BIN          := bin
TEST_TIMEOUT ?= 30m
# The vegeta CLI (installed by `make deps` with go install) is used by tests.
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)
# The embedded stack runs Toxiproxy as its own process from this binary
# (built by `build`); tests run from elsewhere, so they are told where it is.
export CUTOVER_TOXIPROXY_SERVER := $(abspath $(BIN))/toxiproxy-server

.PHONY: all build run test test-short bench lint deps images clean

all: build

# Static binaries: cutover, couponapi (the reference service), and the
# helpers the docker images are built from.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...
	CGO_ENABLED=0 $(GO) build -o $(BIN)/toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server

# deps installs what the tests need (Debian packages, the vegeta CLI), only
# when missing.
deps:
	./scripts/deps.sh

# The default rehearsal: scenarios/staged-cutover.yaml on the embedded driver.
run: deps build
	$(BIN)/cutover run scenarios/staged-cutover.yaml --infra embedded

# Everything that can run on this machine. The docker-driver tests run when
# a Docker engine answers (`make images` is done first then) and skip with
# the reason otherwise.
# The scenarios run last and alone: they load the machine at 6x and judge
# latency, so they must not share the two cores with other packages' tests.
PACKAGES  = $(shell $(GO) list ./... | grep -v '/scenarios$$')

test: deps build
	@if docker info >/dev/null 2>&1; then $(MAKE) images; else echo "test: no Docker engine answers; docker-driver tests will skip"; fi
	$(GO) test -timeout $(TEST_TIMEOUT) $(PACKAGES)
	$(GO) test -timeout $(TEST_TIMEOUT) ./scenarios/

# The quick subset: skips the slow scenarios and tests (and says so).
test-short: deps build
	$(GO) test -short -timeout $(TEST_TIMEOUT) $(PACKAGES)
	$(GO) test -short -timeout $(TEST_TIMEOUT) ./scenarios/

# Every benchmark once, gathered into one table (results/bench/latest.txt).
bench: deps build
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime 1x -timeout $(TEST_TIMEOUT) ./... | $(GO) run ./cmd/benchtable -out results/bench

# Local images for the docker driver, built without any registry.
images: build
	./images/build.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
