# Two commands do everything on a fresh clone: `make run` and `make test`.
# `make setup` (run by both) installs libtorch if missing, vendors gotch and writes its cgo flags.
SHELL := /bin/bash
GO ?= go
SEEDS ?= 3
RESULTS ?= results

.PHONY: setup build run test test-short fuzz clean

setup:
	@scripts/setup.sh

build: setup
	$(GO) build -o bin/bench ./cmd/bench

# The main job: every registered method on the default synthetic mixture, SEEDS seeds, leaderboard.
run: build
	./bin/bench run --methods all --dataset synthetic --seeds $(SEEDS) --results $(RESULTS)

test: setup
	$(GO) test -count=1 -timeout 45m ./...

clean:
	rm -rf bin vendor
