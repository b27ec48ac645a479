# segmentflow: `make run` starts the whole platform locally, `make test` is the one test command.
SHELL := /bin/bash
export GOFLAGS := -buildvcs=false
CACHE := $(CURDIR)/.cache
TOOLS := $(CACHE)/bin
export PATH := $(TOOLS):$(PATH)
GO ?= go
PKGS := ./...
TEST_TIMEOUT ?= 40m

.PHONY: all build test infra-check run bench lint prism-patch test-go test-fuzz-smoke bench-prism bench-profiles bench-collector bench-activate bench-e2e bench-lake bench-classify test-web tools help

all: build

help:
	@echo "make run          the whole platform on embedded emulators (segmentflow local)"
	@echo "make test         lint, unit, pipeline, integration, browser and infra checks"
	@echo "make build        bin/segmentflow"
	@echo "make bench        Go benchmarks of the domain packages"
	@echo "make bench-prism  streaming throughput/latency on prism at steady rates"
	@echo "make bench-lake   lake write throughput (events/s, MB/s) on prism, GCS emulator and local disk"
	@echo "make bench-classify  classify on prism: 50,000 events pstest -> Bigtable, events/s and p50/p99 latency"
	@echo "make bench-profiles  profile API latency at 1,000 requests/s on the Bigtable emulator"
	@echo "make bench-collector  tracking API on pstest vs a bare net/http handler: req/s, events/s, p50/p99"
	@echo "make bench-activate   partner delivery: throughput per partner, healthy latency while others fail"
	@echo "make bench-e2e    the whole local stack at increasing rates: events/s, collector->profile/partner p50/p99, memory"
	@echo "make test-web     the rules console in headless Chromium (part of make test)"
	@echo "make lint         gofmt + go vet"
	@echo "make infra-check  terraform fmt/validate/tflint/plan, offline"
	@echo "make flex-build   flex-template image + specs (FLEX_IMAGE=..., FLEX_PREFIX=gs://...; see docs/runners.md)"

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

test: lint test-go test-web infra-check

# The rules console in headless Chromium (Debian's chromium, driven by
# playwright-core from web/test): the real rules server on a GCS emulator
# process. Skipped with a message when there is no Chromium (CI installs it).
test-web: build
	$(GO) build -o bin/gcs-emulator ./web/test/gcsemulator
	@chrome="$${CHROMIUM:-/usr/bin/chromium}"; \
	  if [[ ! -x "$$chrome" ]]; then echo "SKIP test-web: no Chromium at $$chrome (apt-get install -y chromium, or set CHROMIUM)"; exit 0; fi; \
	  cd web/test && { [[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund; } && \
	  SEGMENTFLOW_BIN=$(CURDIR)/bin/segmentflow GCS_EMULATOR_BIN=$(CURDIR)/bin/gcs-emulator npm test --silent

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

# Profile API lookups paced at a steady rate against the Bigtable emulator on
# loopback; prints p50/p90/p99 (target p99 < 10 ms at 1,000/s).
bench-profiles: prism-patch
	$(GO) run ./bench/profiles $(ARGS)

# The tracking API on loopback against pstest, side by side with a bare
# net/http handler (targets: >= 50% of its request rate; p99 < 20 ms at
# 1,000 req/s of 20-event batches). ARGS: --duration, --rate, --clients.
bench-collector: prism-patch
	$(GO) run ./bench/collector $(ARGS)

# Partner delivery through pstest to httptest partners: throughput per
# partner, then a healthy partner's latency while another answers 503 and a
# third hangs. ARGS: --changes, --rate, --duration, --config.
bench-activate: prism-patch
	$(GO) run ./bench/activate $(ARGS)

# The whole local stack (localstack.Start) under the synthetic game at
# increasing rates, a fresh stack per rate; one table row per rate.
# ARGS: --rates 250,500,1000 --duration 2m --warmup 20s --cpuprofile FILE.
bench-e2e: prism-patch
	$(GO) run ./bench/e2e $(ARGS)

# The lake pipeline on prism: a Pub/Sub backlog written to the GCS emulator,
# then to a local directory; prints events/s and MB/s of each (ARGS, e.g.
# ARGS="--events 50000", go to both runs).
bench-lake: prism-patch
	$(GO) run ./bench/lake $(ARGS)
	$(GO) run ./bench/lake --lake $${TMPDIR:-/tmp} $(ARGS)

# The classify pipeline on prism against in-process emulators: 50,000 events
# published at 1,000/s (ARGS, e.g. ARGS="--rate 0" for full speed), prints
# events/s and event-to-profile latency p50/p99.
bench-classify: prism-patch
	$(GO) run ./bench/classify $(ARGS)

# The linux/amd64 worker for --worker_binary (Dataflow, Flink) from another
# platform; on linux/amd64 `segmentflow run` stages itself.
worker-binary:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOWORK=off $(GO) build -trimpath -o bin/segmentflow-linux-amd64 ./cmd/segmentflow

# Flex templates (docs/runners.md): one image, one spec per pipeline.
# Needs docker, gcloud and network; not part of `make test`.
FLEX_PIPELINES ?= lake classify reconcile
flex-build:
	@test -n "$(FLEX_IMAGE)" -a -n "$(FLEX_PREFIX)" || { echo "set FLEX_IMAGE=REGION-docker.pkg.dev/PROJECT/REPO/segmentflow:TAG FLEX_PREFIX=\$$(terraform output -raw flex_template_prefix)"; exit 2; }
	docker build --platform=linux/amd64 -f infra/flex/Dockerfile -t $(FLEX_IMAGE) .
	docker push $(FLEX_IMAGE)
	for p in $(FLEX_PIPELINES); do \
	  gcloud dataflow flex-template build "$(FLEX_PREFIX)$$p.json" --image "$(FLEX_IMAGE)" \
	    --sdk-language GO --metadata-file "infra/flex/$$p/metadata.json" || exit 1; \
	done
