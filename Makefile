# Makefile: build, test (what CI runs), demo, bench.

GO      ?= go
BIN     ?= bin
# VERSION, when given (make build VERSION=2.1.0), replaces proxy.Version, the
# one version shepherd reports everywhere; x.y.z, at least 1.6.0 (see proxy/version.go).
VERSION ?=
LDFLAGS := $(if $(VERSION),-X github.com/shepherd-proxy/shepherd/proxy.Version=$(VERSION) -X main.version=$(VERSION))

.PHONY: all build test vet race scenarios fuzz bench loopproto demo mutate mutate-quick clean

all: build

## build: every command under cmd/ into bin/ (bin/shepherd, ...), statically
## linked (CGO_ENABLED=0: pure-Go DNS and no libc), so bin/shepherd runs in
## an empty root (distroless/static, scratch); see Containerfile
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

## test: what CI runs (.ci/run): vet, then all tests with the race detector
test: vet race scenarios

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 -timeout 20m ./...

## scenarios: what the race detector would distort, run without it: the
## timing scenarios (failover against a 100ms timeout), the allocation
## tests (they skip under -race, which allocates) and the streaming memory
## bound (the detector's shadow memory would be measured too)
scenarios:
	$(GO) test -count=1 -timeout 10m -run 'Allocs' -v ./protocol/ ./ring/
	$(GO) test -count=1 -timeout 10m -run 'Failover|TestStreamMemoryBounded' -v ./proxy/


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
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/shepherd ./cmd/herdbench ./cmd/comments
	$(BIN)/herdbench run bench/scenarios/throughput.yaml bench/scenarios/herd.yaml \
		bench/scenarios/failover.yaml bench/scenarios/rebalance.yaml bench/scenarios/comments.yaml \
		--shepherd $(BIN)/shepherd --comments $(BIN)/comments --json out/results.json --report out/report.html

## loopproto: the data-path prototypes (bench/loopproto: goroutine per
## connection, epoll and gnet loops) against shepherd and nutcracker, per-request
## cost in alternating rounds (~3 min): the table, out/loopproto.json
loopproto:
	bash bench/loopproto/run.sh

## mutate: mutation testing (gremlins) of protocol, ring, health, herd, proxy/backend, proxy/placement and internal/uring
## (PKGS=ring for one), a table of the results, every survivor checked
## against scripts/mutants/equivalent.txt; about an hour on 2 cores
mutate:
	bash scripts/mutate.sh $(PKGS)

## mutate-quick: what CI runs after make test: ring and proxy/placement
## (~2 min); the other packages take 5-30 min each, past CI's budget
mutate-quick:
	MUTATE_OPTIONAL=1 bash scripts/mutate.sh ring proxy/placement

## demo: 3 memcached nodes + shepherd on 127.0.0.1:11211, a set/get/multi-get, metrics
demo:
	bash scripts/demo.sh

clean:
	rm -rf $(BIN)
