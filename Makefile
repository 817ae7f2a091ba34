# Two targets a newcomer needs: `make demo` and `make test`.
# Both create the virtual environment in .venv on first use and install the pinned requirements.

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint clean-demo help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -c 'from plmtransfer.learn.lasso import compile_solver; compile_solver()'  # the solver's numba cache
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the pinned requirements

demo: install  ## run the DMS pipeline end-to-end on the embedded default (offline, a few minutes)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash run_demo.sh

test: install  ## run the test suite (offline), one worker per CPU core, each test file in one worker
	$(PY) -m pytest -n auto --dist loadfile

lint: install  ## ruff on the package, scripts, bench and tests
	$(PY) -m ruff check plmtransfer scripts bench tests

clean-demo:  ## remove the demo's generated files
	rm -rf demo_output
