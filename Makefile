# cutover — the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
GO           ?= go
BIN          := bin
TEST_TIMEOUT ?= 30m
# The vegeta CLI (installed by `make deps` with go install) is used by tests;
# gotestsum (installed the same way) runs them.
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)
# gotestsum runs go test and prints one line per package, every failure in
# full, and at the end each skipped test with its reason; it writes a JUnit
# report per part under results/junit/ for CI.
JUNIT    := results/junit
GOTEST    = gotestsum --format pkgname-and-test-fails --junitfile $(JUNIT)/$(1).xml --

# The embedded stack runs Toxiproxy as its own process from this binary
# (built by `build`); tests run from elsewhere, so they are told where it is.
export CUTOVER_TOXIPROXY_SERVER := $(abspath $(BIN))/toxiproxy-server

.PHONY: all build run test test-short bench ceiling lint deps images kind-image clean

all: build

# Static binaries: cutover, couponapi (the reference service), and the
# helpers the docker images are built from.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

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
# The packages that start kind clusters and stack containers run after the
# others, on their own: a kind cluster being created takes both cores for a
# minute, and beside it the replayer's pacing test (TestPacingAt6x) saw a
# quarter of a planned burst arrive on time (fresh clone, 2026-12-05).
INFRA     = ./harness/platform/kind/ ./harness/stack/docker/
PACKAGES  = $(shell $(GO) list ./... | grep -v -e '/scenarios$$' -e '/harness/platform/kind$$' -e '/harness/stack/docker$$')

test: deps build
	@if docker info >/dev/null 2>&1; then $(MAKE) images; else echo "test: no Docker engine answers; docker-driver tests will skip"; fi
	@mkdir -p $(JUNIT)
	$(call GOTEST,packages) -timeout $(TEST_TIMEOUT) $(PACKAGES)
	$(call GOTEST,infra) -timeout $(TEST_TIMEOUT) $(INFRA)
	$(call GOTEST,scenarios) -timeout $(TEST_TIMEOUT) ./scenarios/

# The quick subset: skips the slow scenarios and tests (and says so).
test-short: deps build
	@mkdir -p $(JUNIT)
	$(call GOTEST,packages-short) -short -timeout $(TEST_TIMEOUT) $(PACKAGES)
	$(call GOTEST,infra-short) -short -timeout $(TEST_TIMEOUT) $(INFRA)
	$(call GOTEST,scenarios-short) -short -timeout $(TEST_TIMEOUT) ./scenarios/

# Every benchmark once, gathered into one table (results/bench/latest.txt).
bench: deps build
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime 1x -timeout $(TEST_TIMEOUT) ./... | $(GO) run ./cmd/benchtable -out results/bench

# The highest multiplier at which the default rehearsal passes on this
# machine with DRIVER (embedded|docker): a bisection of full-length runs
# (scripts/ceiling.sh), the runs under results/ceiling/DRIVER/.
DRIVER ?= embedded
ceiling: deps build
	@if [ "$(DRIVER)" = docker ]; then $(MAKE) images; fi
	./scripts/ceiling.sh scenarios/staged-cutover.yaml $(DRIVER)

# Local images for the docker driver and the kind node image, built without
# any registry; each is rebuilt only when its inputs change.
images: build
	./images/build.sh
	./images/kind/build.sh

# The kind node image alone (Kubernetes from Go modules: 20 to 40 min on 2
# cores when Go's build cache is cold; see README "kind").
kind-image:
	./images/kind/build.sh

# lint: gofmt, go vet, golangci-lint with the small set of .golangci.yml
# (installed at a pinned version when missing), and the import-graph check
# (no arrow from a lower layer to a higher one; internal/importgraph).
GOLANGCI_LINT_VERSION := 2.15.0
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@[ "$$(golangci-lint version --short 2>/dev/null)" = "$(GOLANGCI_LINT_VERSION)" ] || { echo "lint: installing golangci-lint v$(GOLANGCI_LINT_VERSION) (go install)"; $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_LINT_VERSION); }
	golangci-lint run ./...
	$(GO) test -count=1 ./internal/importgraph/

clean:
	rm -rf $(BIN)
