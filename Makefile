# Quick start: `make demo` and `make test`. Both set themselves up in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint equivalence bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/compare.py

lint: $(STAMP)
	$(BIN)/ruff check .

# One pytest worker per core (xdist), each with one BLAS thread, so workers don't oversubscribe.
test: $(STAMP) lint
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n auto

equivalence: $(STAMP)
	$(BIN)/python -m pytest -q -m equivalence

# Benchmarks run with this machine's OpenBLAS overrides unset in their own command only (see
# docs/benchmarks.md); each script reports the BLAS kernel it actually used.
BENCH_ENV := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

bench: $(STAMP)
	$(BENCH_ENV) $(BIN)/python benchmarks/scalar_vs_micrograd.py
	$(BENCH_ENV) $(BIN)/python benchmarks/tensor_vs_torch.py
	$(BENCH_ENV) $(BIN)/python benchmarks/gpt2_vs_torch.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
