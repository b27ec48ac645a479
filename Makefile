# segmentflow: `make run` starts the whole platform locally, `make test` is the one test command.
SHELL := /bin/bash
export GOFLAGS := -buildvcs=false
CACHE := $(CURDIR)/.cache
TOOLS := $(CACHE)/bin
export PATH := $(TOOLS):$(PATH)
GO ?= go
PKGS := ./...
TEST_TIMEOUT ?= 40m

.PHONY: all build test infra-check run bench lint prism-patch test-go test-fuzz-smoke bench-prism tools help

all: build

help:
	@echo "make run          the whole platform on embedded emulators (segmentflow local)"
	@echo "make test         lint, unit, pipeline, integration, browser and infra checks"
	@echo "make build        bin/segmentflow"
	@echo "make bench        Go benchmarks of the domain packages"
	@echo "make bench-prism  streaming throughput/latency on prism at steady rates"
	@echo "make lint         gofmt + go vet"
	@echo "make infra-check  terraform fmt/validate/tflint/plan, offline"

# The patched prism runner (see README, "The prism patch"); cheap when done.
prism-patch:
	@./tools/prism-patch.sh

build: prism-patch
	$(GO) build -o bin/segmentflow ./cmd/segmentflow

run: build
	./bin/segmentflow local $(ARGS)

lint: prism-patch
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))"; \
	  if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

test-go: prism-patch
	$(GO) test -timeout $(TEST_TIMEOUT) $(PKGS)

test: lint test-go infra-check

# Offline terraform checks: fmt, init (local provider mirror), validate,
# tflint, plan with a fake token. First run builds terraform, tflint and the
# google provider into .cache (see DEVELOPERS.md); warm runs take seconds.
infra-check:
	@./infra/check.sh

bench: prism-patch
	$(GO) test -run '^$$' -bench . -benchmem ./event/ ./rules/

# Streaming on prism at steady rates, patched and stock (GOWORK=off builds
# against the unpatched module cache); prints one table row per rate.
bench-prism: prism-patch
	$(GO) run ./bench/prism --label patched $(ARGS)
	GOWORK=off $(GO) run ./bench/prism --label stock $(ARGS)
