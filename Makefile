# The two set-up commands of the README:
#   make demo   creates .venv, installs the package and runs the whole pipeline on the synthetic demo (CPU);
#               with .venv-alignment / .venv-radgraph present (`make envs`) it computes the alignment score and
#               RadGraph F1 in them, else those metrics read "not computed" with the reason
#   make test   creates .venv and the two metric venvs, installs the package with its test extras, runs the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# torch is pinned on the same pip command line as its dependants so pip resolves the CPU wheel.
TORCH_PIN := torch==2.13.0
# The alignment score (hi-ml-multimodal) and RadGraph F1 (radgraph) need transformers 4, so their rules run in
# their own environments (envs/alignment.yaml, envs/radgraph.yaml); the tests run them in these two venvs.
# torchvision's wheels on the package index are built against the index's torch (a CUDA build, which also runs
# on CPU): the alignment venv excludes a local CPU build that pip could otherwise prefer (e.g. via --find-links).
ALIGNMENT_VENV ?= .venv-alignment
RADGRAPH_VENV ?= .venv-radgraph
ALIGNMENT_TORCH_PIN := torch==2.13.0,!=2.13.0+cpu

ALIGNMENT_PYTHON := $(ALIGNMENT_VENV)/bin/python
RADGRAPH_PYTHON := $(RADGRAPH_VENV)/bin/python
comma := ,
# config evaluation.interpreters for the metric venvs that exist (Snakemake merges --config into config.yaml)
DEMO_INTERPRETERS := $(strip \
	$(if $(wildcard $(ALIGNMENT_PYTHON)),alignment: "$(CURDIR)/$(ALIGNMENT_PYTHON)",) \
	$(if $(and $(wildcard $(ALIGNMENT_PYTHON)),$(wildcard $(RADGRAPH_PYTHON))),$(comma)) \
	$(if $(wildcard $(RADGRAPH_PYTHON)),radgraph: "$(CURDIR)/$(RADGRAPH_PYTHON)",))
DEMO_CONFIG := $(if $(DEMO_INTERPRETERS),--config 'evaluation={interpreters: {$(DEMO_INTERPRETERS)}}',)

.PHONY: demo test report install install-test envs clean-results

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_PIN) -e '.[all]'

install-test: $(BIN)/python envs
	$(BIN)/pip install --quiet $(TORCH_PIN) -e '.[test]'

# The environments of the alignment score and RadGraph F1 (about 5.8 GB and 1.6 GB installed).
envs:
	test -x $(ALIGNMENT_PYTHON) || $(PYTHON) -m venv $(ALIGNMENT_VENV)
	$(ALIGNMENT_VENV)/bin/pip install --quiet '$(ALIGNMENT_TORCH_PIN)' -e '.[alignment]'
	test -x $(RADGRAPH_PYTHON) || $(PYTHON) -m venv $(RADGRAPH_VENV)
	$(RADGRAPH_VENV)/bin/pip install --quiet $(TORCH_PIN) -e '.[radgraph]'

demo: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --profile profiles/local --cores $(CORES) all $(DEMO_CONFIG)

report: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --profile profiles/local --cores $(CORES) --report report.html

test: install-test
	PATH=$(CURDIR)/$(BIN):$$PATH HF_HUB_OFFLINE=1 $(BIN)/pytest -n $(CORES) --dist loadgroup tests

clean-results:
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +; rm -rf .snakemake
