# ops-worker: every command a developer or CI needs.
SHELL := /bin/bash
GO ?= go
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

# Every package runs under the race detector except these: the embedded
# database (go-mysql-server is large, slow to build with -race, and used by
# one goroutine at a time).
RACE_EXCEPTIONS := internal/memsql
PLAIN_PKGS := $(addprefix ./,$(RACE_EXCEPTIONS))
empty :=
space := $(empty) $(empty)
RACE_PKGS := $(shell $(GO) list ./... | grep -v -E '/($(subst $(space),|,$(strip $(RACE_EXCEPTIONS))))$$')

.PHONY: all build test test-race test-plain lint fmt vet tidy-check fuzz bench bench-db bench-winrm labsim clean

all: lint test

build:
	$(GO) build ./...

test: lint test-plain test-race

test-plain:
	$(GO) test -count=1 $(PLAIN_PKGS)

test-race:
	$(GO) test -count=1 -race $(RACE_PKGS)

lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

tidy-check:
	cp go.mod /tmp/go.mod.bak && cp go.sum /tmp/go.sum.bak
	$(GO) mod tidy
	@if ! diff -q go.mod /tmp/go.mod.bak >/dev/null || ! diff -q go.sum /tmp/go.sum.bak >/dev/null; then \
		echo "go mod tidy changes go.mod/go.sum"; cp /tmp/go.mod.bak go.mod; cp /tmp/go.sum.bak go.sum; exit 1; fi

# Short fuzz runs of every parser (go test -fuzz takes one target at a time).
# A bounded minimisation keeps a run from ending in "context deadline
# exceeded" when the time runs out while an input is being shrunk.
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime=200x ./internal/hosts
	$(GO) test -run '^$$' -fuzz '^FuzzParseDSN$$' -fuzztime $(FUZZTIME) -fuzzminimizetime=200x ./internal/config
	@for pkg in ./internal/labstation ./internal/labsim ./internal/netaddr ./internal/winrm; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime=200x $$pkg || exit 1; \
		done; \
	done

BENCHSTAT := $(HOME)/go/bin/benchstat
$(BENCHSTAT):
	$(GO) install golang.org/x/perf/cmd/benchstat@latest

# Candidate scans on 1M history + 100k future reservations + 1M operations.
bench-db: $(BENCHSTAT)
	mkdir -p bench
	$(GO) test -run '^$$' -v -bench '^BenchmarkScan$$' -benchtime 2000x -count 10 -timeout 30m ./internal/store | tee bench/db.txt
	$(BENCHSTAT) bench/db.txt

# 200 labsim hosts, 20 ms per WinRM request, 32 polls in flight.
bench-winrm: $(BENCHSTAT)
	mkdir -p bench
	$(GO) test -run '^$$' -bench 'HeartbeatPoll200' -benchtime 1x -count 6 -timeout 30m ./internal/lab/... ./internal/winrm/... | tee bench/winrm.txt
	$(BENCHSTAT) bench/winrm.txt

bench: bench-db bench-winrm

labsim:
	$(GO) run ./cmd/labsim -hosts 3

clean:
	rm -rf bin .aws-sam
