# cutover — the two commands a user needs are `make run` and `make test`.
GO        ?= go
BIN       := bin
GOFLAGS   ?=
TEST_TIMEOUT ?= 20m

.PHONY: all build run test test-short bench lint deps images clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

# deps installs what the tests need from Debian packages (idempotent).
deps:
	./scripts/deps.sh

# The default rehearsal: scenarios/staged-cutover.yaml on the embedded driver.
run: build
	$(BIN)/cutover run scenarios/staged-cutover.yaml --infra embedded

test: deps build
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

test-short: build
	$(GO) test -short -timeout $(TEST_TIMEOUT) ./...

bench: deps build
	$(GO) test -run '^$$' -bench . -benchtime 1x ./... 

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
