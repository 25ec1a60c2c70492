# The two set-up commands of the README:
#   make demo   creates .venv, installs the package and runs the whole pipeline on the synthetic demo (CPU)
#   make test   creates .venv, installs the package with its test extras and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# torch is pinned on the same pip command line as its dependants so pip resolves the CPU wheel.
TORCH_PIN := torch==2.13.0

.PHONY: demo test report install install-test clean-results

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_PIN) -e '.[all]'

install-test: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_PIN) -e '.[test]'

demo: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --profile profiles/local --cores $(CORES) all

report: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --profile profiles/local --cores $(CORES) --report report.html

test: install-test
	PATH=$(CURDIR)/$(BIN):$$PATH HF_HUB_OFFLINE=1 $(BIN)/pytest -n $(CORES) --dist loadgroup tests

clean-results:
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +; rm -rf .snakemake
