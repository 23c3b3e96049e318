# The two commands a new machine needs: `make run` and `make test`. Each sets up what it uses.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test clean

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(INSTALLED)

## run: the API and console on http://127.0.0.1:$${PORT:-8000}, the worker, and an embedded moto backend
run: $(INSTALLED)
	$(PY) -m dev.run

## test: the whole test suite
test: $(INSTALLED)
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
