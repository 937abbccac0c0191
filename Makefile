# Quick start: `make demo` and `make test`. Both set themselves up in .venv.
#
# Two install stamps: `make demo` installs only what the demo needs (the `examples` extra, no
# PyTorch); `make test` installs the `dev` extra on top. A venv made by `make demo` therefore
# upgrades itself the first time `make test` runs, and either re-installs when pyproject.toml
# changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXAMPLES_STAMP := $(VENV)/.installed-examples
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: setup demo test lint equivalence bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(EXAMPLES_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[examples]"
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@ $(EXAMPLES_STAMP)

setup: $(DEV_STAMP)

demo: $(EXAMPLES_STAMP)
	$(BIN)/python examples/compare.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

# One pytest worker per core (xdist), each with one BLAS thread, so workers don't oversubscribe.
test: $(DEV_STAMP) lint
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n auto

equivalence: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -m equivalence

# Benchmarks run with this machine's OpenBLAS overrides unset in their own command only (see
# docs/benchmarks.md); each script reports the BLAS kernel it actually used. The tensor engine
# is compared at one BLAS thread, the comparison that holds on a shared machine (a second
# thread that is not scheduled stalls every product); the scripts take --threads for more.
BENCH_ENV := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

bench: $(DEV_STAMP)
	$(BENCH_ENV) $(BIN)/python benchmarks/scalar_vs_micrograd.py
	$(BENCH_ENV) $(BIN)/python benchmarks/tensor_vs_torch.py --threads 1
	$(BENCH_ENV) $(BIN)/python benchmarks/gpt2_vs_torch.py --threads 1
	$(BENCH_ENV) $(BIN)/python benchmarks/gemm_layouts.py
	$(BENCH_ENV) $(BIN)/python benchmarks/load_vs_read.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
