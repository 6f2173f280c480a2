# Two commands do everything on a fresh clone: `make run` and `make test`.
# `make setup` (run by both) installs libtorch if missing, vendors gotch and writes its cgo flags.
SHELL := /bin/bash
GO ?= go
SEEDS ?= 3
RESULTS ?= results

# The project's own accuracy-regression check: a small deterministic sweep of every method against a
# committed baseline (`make ci-baseline` rewrites it after an intended change; commit it with a reason).
# ci/sweep.args and ci/tolerance.args are read here and by the mutation test (cmd/bench/ci_test.go).
CI_SWEEP = $(shell cat ci/sweep.args)
CI_RESULTS = .ci-results
# The run is deterministic on one machine, but libtorch's CPU kernels may round differently on another
# CPU; a drop must exceed max(--abs, --k × SE) to fail (--abs is a fraction: 0.03 = 3 points).
CI_TOLERANCE = $(shell cat ci/tolerance.args)

.PHONY: setup build run test regress-ci ci-baseline clean

# GPU=1 (make setup GPU=1, make build GPU=1, ...) builds against the CUDA libtorch; see scripts/setup.sh.
GPU ?= 0
setup:
	@GPU=$(GPU) scripts/setup.sh

build: setup
	$(GO) build -o bin/bench ./cmd/bench

# The main job: every registered method on the default synthetic mixture, SEEDS seeds, leaderboard.
run: build
	./bin/bench run --methods all --dataset synthetic --seeds $(SEEDS) --results $(RESULTS)

test: setup
	$(GO) test -count=1 -timeout 45m ./...
	$(MAKE) --no-print-directory regress-ci

regress-ci: build
	rm -rf $(CI_RESULTS)
	./bin/bench run $(CI_SWEEP) --results $(CI_RESULTS) > /dev/null
	./bin/bench regress $(CI_TOLERANCE) --baseline ci/baseline.json --results $(CI_RESULTS)

ci-baseline: build
	rm -rf $(CI_RESULTS)
	./bin/bench run $(CI_SWEEP) --results $(CI_RESULTS) > /dev/null
	./bin/bench regress --update --baseline ci/baseline.json --results $(CI_RESULTS)

clean:
	rm -rf bin vendor $(CI_RESULTS)

# `make perf`: time one training step and one evaluation step of four fixed models (bench/perf) in Go and in
# PyTorch 2.1 on the same libtorch (perf/), then complete cells (--cells: bench.Train of joint and dmi on ROSMAP,
# skipped when absent, and on the synthetic default, against a PyTorch loop of the same protocol, data, weights
# and batch order), print Go/PyTorch ratios and the cells' phase split, and write perf.json. The PyTorch side needs
# the full torch==2.1.0 wheel with its dependencies in .deps/torch-py (git-ignored): installed here when missing,
# a one-off of several minutes (~4.6 GB, CUDA libraries included though only the CPU is used). Then about 2-3 minutes
# on 2 cores for the steps (2.3 min measured) and about 4 more for the cells (3.8 min). Flags through PERF_FLAGS, e.g.
# make perf PERF_FLAGS="--threads 2 --models joint-mlp", or PERF_FLAGS="--models none" for the cells only.
PERF_FLAGS ?=
.PHONY: perf torch-py xcheck
perf: build torch-py
	./bin/bench perf --cells $(PERF_FLAGS)

# The full torch==2.1.0 wheel in .deps/torch-py, for make perf and make xcheck's pretrained-weights check.
torch-py:
	@if [[ ! -f .deps/torch-py/torch/__init__.py || ! -d .deps/torch-py/torch-2.1.0.dist-info ]]; then \
	  echo "torch-py: installing torch==2.1.0 into .deps/torch-py; one-off, several minutes, ~4.6 GB"; \
	  rm -rf .deps/torch-py.tmp && \
	  python3 -m pip install --disable-pip-version-check --target .deps/torch-py.tmp torch==2.1.0 && \
	  rm -rf .deps/torch-py && mv .deps/torch-py.tmp .deps/torch-py; \
	fi

# `make xcheck`: compare our preprocessing (and pretrained features) with the libraries the reference code
# uses: librosa/soxr, Pillow (libjpeg-turbo), scipy, numpy, torchvision, installed into the git-ignored venv
# .deps/xcheck-venv; the checks are listed in scripts/xcheck/checks.txt. Prints one table of figures.
# `make xcheck XCHECK_UPDATE=1` also refreshes the committed golden fixtures make test compares against.
XCHECK_VENV := .deps/xcheck-venv
xcheck: build torch-py xcheck-venv
	XCHECK_PY=$(CURDIR)/$(XCHECK_VENV)/bin/python TORCH_PY=$(CURDIR)/.deps/torch-py XCHECK_UPDATE=$(XCHECK_UPDATE) \
	  scripts/xcheck/run.sh

.PHONY: xcheck-venv perf-loader
xcheck-venv:
	@if [[ ! -f $(XCHECK_VENV)/.installed ]] || ! cmp -s scripts/xcheck/requirements.txt $(XCHECK_VENV)/.installed; then \
	  echo "xcheck: installing scripts/xcheck/requirements.txt into $(XCHECK_VENV)"; \
	  rm -rf $(XCHECK_VENV) && python3 -m venv $(XCHECK_VENV) && \
	  $(XCHECK_VENV)/bin/pip install --disable-pip-version-check -q -r scripts/xcheck/requirements.txt && \
	  $(XCHECK_VENV)/bin/pip install --disable-pip-version-check -q --no-deps torchvision==0.16.0 && \
	  cp scripts/xcheck/requirements.txt $(XCHECK_VENV)/.installed; \
	fi

# `make perf-loader`: clips per second through our loader (training transform) and through a PyTorch
# DataLoader over OGM-GE's CREMA-D dataset class (librosa, PIL, torchvision; the xcheck venv), same files,
# as many worker processes as cores; writes perf-loader.json. The layout is PERF_LOADER_DIR (a data root
# holding cremad/), else an export of AV-MNIST from ../shared/data into .deps/perf-loader (once).
PERF_LOADER_DIR ?= .deps/perf-loader
perf-loader: build torch-py xcheck-venv
	@if [[ ! -f $(PERF_LOADER_DIR)/cremad/train.csv ]]; then \
	  ./bin/bench export --dataset avmnist --layout cremad --out $(PERF_LOADER_DIR) --limit 600; \
	fi
	./bin/bench perf --loader $(PERF_LOADER_DIR)/cremad --python $(XCHECK_VENV)/bin/python $(PERF_FLAGS)

# `make slurm-test`: `bench run --launcher slurm` on a real one-node Slurm brought up here by
# scripts/slurm-local.sh (installs slurm-wlm and munge with apt-get when missing; needs root): a 12-cell
# grid as a 3-task job array, the same grid unsharded, bench merge of the two and a record-for-record
# comparison (timing fields aside); stops the Slurm it started. About a minute on 2 cores.
.PHONY: slurm-test
slurm-test: build
	scripts/slurm-test.sh
