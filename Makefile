# The two commands a newcomer needs (see README.md):
#   make demo   set up .venv and train the demo CNN on the embedded digits
#   make test   set up .venv (with the test extras) and run the whole suite
#   make fuzz   the long fuzz of every file reader (docs/safety.md); e.g.
#               make fuzz FUZZ_ARGS="--cases 50000 --seed 7"
# Everything is installed into ./.venv by these targets; nothing by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test bench fuzz clean-venv

# The stamp files record which extras are installed; they are rebuilt when
# pyproject.toml or setup.py change.
$(VENV)/.demo-installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[fast,viz,progress]'
	touch $@

$(VENV)/.test-installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.demo-installed
	$(BIN)/minicnn demo

# Two pytest workers on two cores: each worker gets one BLAS/Numba thread, because
# oversubscribed threads (2 workers x 2 threads) spin and wait far more than they compute.
THREADS_PER_WORKER = OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1

test: $(VENV)/.test-installed
	$(THREADS_PER_WORKER) $(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

bench: $(VENV)/.test-installed
	$(BIN)/minicnn bench

FUZZ_ARGS ?= --cases 20000
fuzz: $(VENV)/.test-installed
	$(BIN)/python tools/fuzz_readers.py $(FUZZ_ARGS)

clean-venv:
	rm -rf $(VENV)
