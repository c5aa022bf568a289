# Makefile: build, test (what CI runs), demo, bench.

GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build test vet race scenarios fuzz bench demo clean

all: build

## build: every command under cmd/ into bin/ (bin/shepherd, ...)
build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

## test: what CI runs (.ci/run): vet, then all tests with the race detector
test: vet race scenarios

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 -timeout 20m ./...

## scenarios: timing scenarios (failover against a 100ms timeout) without the
## race detector, which would slow them past what they measure
scenarios:
	$(GO) test -count=1 -timeout 10m -run 'Failover' -v ./proxy/


## fuzz: the differential fuzzer open-ended (FUZZTIME, default 10m, from a
## fresh seed; streams that differ are kept in proxy/testdata/diff), the
## 20 s isolation test, and the parsers' native fuzzing
FUZZTIME ?= 10m
FUZZSEED ?= $(shell date +%s)
fuzz:
	SHEPHERD_DIFF_SEED=$(FUZZSEED) SHEPHERD_DIFF_DURATION=$(FUZZTIME) SHEPHERD_DIFF_SAVE=1 \
		$(GO) test -count=1 -timeout 0 -run 'TestDifferential$$' -v ./proxy/
	SHEPHERD_ISOLATION_DURATION=20s $(GO) test -count=1 -run 'TestIsolationUnderAttack$$' -v ./proxy/
	$(GO) test -run=NONE -fuzz=FuzzReader -fuzztime=60s ./protocol/
	$(GO) test -run=NONE -fuzz=FuzzReadReply -fuzztime=60s ./protocol/

## bench: herdbench's standard set on loopback (~2-3 min): out/report.html, out/results.json
## (package micro-benchmarks: go test -run=NONE -bench=. -benchmem ./...)
bench:
	@mkdir -p $(BIN) out
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/shepherd ./cmd/herdbench ./cmd/comments
	$(BIN)/herdbench run bench/scenarios/throughput.yaml bench/scenarios/herd.yaml \
		bench/scenarios/failover.yaml bench/scenarios/rebalance.yaml bench/scenarios/comments.yaml \
		--shepherd $(BIN)/shepherd --comments $(BIN)/comments --json out/results.json --report out/report.html

## demo: 3 memcached nodes + shepherd on 127.0.0.1:11211, a set/get/multi-get, metrics
demo:
	bash scripts/demo.sh

clean:
	rm -rf $(BIN)
