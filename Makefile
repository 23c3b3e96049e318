# The two commands a new machine needs: `make run` and `make test`. Each sets up what it uses.
# The Lambda runtime is python3.13 (dev/package.py): build, run and test on the same Python.
PYTHON_VERSION := 3.13
IS_PYTHON := -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(PYTHON_VERSION)")'
# The first Python 3.13 found: on the PATH, then pyenv's and uv's installs (a pyenv shim for a
# version that is not selected fails the probe and is passed over). PYTHON=... overrides it.
PYTHON ?= $(firstword $(foreach p,python$(PYTHON_VERSION) $(wildcard $(HOME)/.pyenv/versions/$(PYTHON_VERSION)*/bin/python$(PYTHON_VERSION) $(HOME)/.local/share/uv/python/cpython-$(PYTHON_VERSION)*/bin/python$(PYTHON_VERSION) /usr/local/bin/python$(PYTHON_VERSION) /usr/bin/python$(PYTHON_VERSION)),$(shell $(p) $(IS_PYTHON) 2>/dev/null && echo $(p))))
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

# The oldest boto3/botocore the python3.13 Lambda runtime may carry (docs/deploy.md, "The SDK").
OLDEST_SDK := boto3==1.34.145 botocore==1.34.145
OLDEST_SDK_VENV := build/venv-oldest-sdk

.PHONY: run test test-oldest-sdk package terraform policies bench neighbour chaos faults clean browser

# A venv made by another Python is made again.
ifneq ($(shell $(PY) $(IS_PYTHON) 2>/dev/null && echo ok),ok)
$(INSTALLED): python-missing-or-venv-stale
endif

.PHONY: python-missing-or-venv-stale
python-missing-or-venv-stale:
	@test -n "$(PYTHON)" || { echo "make: Python $(PYTHON_VERSION) is needed (the Lambda runtime is python$(PYTHON_VERSION)) and none was found."; \
	  echo "  Install it, for instance:  uv python install $(PYTHON_VERSION)  |  pyenv install $(PYTHON_VERSION)  |  apt-get install python$(PYTHON_VERSION) python$(PYTHON_VERSION)-venv"; \
	  echo "  or point at one:  make test PYTHON=/path/to/python$(PYTHON_VERSION)"; exit 1; }
	@$(PYTHON) $(IS_PYTHON) || { echo "make: PYTHON=$(PYTHON) is not Python $(PYTHON_VERSION)"; exit 1; }
	@if test -e $(PY) && ! $(PY) $(IS_PYTHON) 2>/dev/null; then \
	  echo "make: $(VENV) was made by $$($(PY) --version 2>&1); making it again with $(PYTHON)"; rm -rf $(VENV); fi

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(INSTALLED)

## run: the API and console on http://127.0.0.1:$${PORT:-8000}, the worker, and an embedded moto backend
## (its data kept in $${LOCAL_STATE_DIR:-.local-state}; FRESH=1 starts afresh)
run: $(INSTALLED)
	$(PY) -m dev.run $(if $(FRESH),--fresh)

# Test processes at once (pytest-xdist): most tests wait on sockets and child processes, not the CPU.
TEST_WORKERS ?= 4

## test: the whole test suite (the console's tests drive Debian's Chromium, installed here if missing)
test: $(INSTALLED) browser
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

## test-oldest-sdk: the delivery tests again, on the oldest SDK the Lambda runtime may carry (CI runs it)
test-oldest-sdk: $(INSTALLED)
	test -x $(OLDEST_SDK_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_SDK_VENV)
	sed -e '/^boto3==/d' -e 's|^-r requirements.txt|-r $(CURDIR)/requirements.txt|' requirements-dev.txt > $(OLDEST_SDK_VENV)/requirements-dev.txt
	$(OLDEST_SDK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(OLDEST_SDK_VENV)/requirements-dev.txt $(OLDEST_SDK)
	$(OLDEST_SDK_VENV)/bin/python -c 'import boto3, botocore; print("boto3", boto3.__version__, "botocore", botocore.__version__)'
	$(OLDEST_SDK_VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) $(wildcard tests/service/test_delivery*.py tests/service/test_worker*.py)

## package: build/package/sam.json (SAM/CloudFormation) and deployment.zip, for STAGE (default prod);
## FIXED_EGRESS=1: deliveries and test sends leave from fixed addresses (docs/deploy.md)
package: $(INSTALLED)
	$(PY) -m dev.package --stage $(or $(STAGE),prod) $(if $(FIXED_EGRESS),--fixed-egress)

## terraform: build/terraform/chalice.tf.json, the same stack for current Terraform, for STAGE (and FIXED_EGRESS)
terraform: $(INSTALLED)
	$(PY) -m dev.terraform --stage $(or $(STAGE),prod) $(if $(FIXED_EGRESS),--fixed-egress)

## policies: .chalice/policy-<function>-<stage>.json, the policies chalice deploy reads, from .chalice/policy-templates
policies: $(INSTALLED)
	$(PY) -m dev.iam

## bench: cost, speed and scale figures, printed and written to docs/benchmarks.md
bench: $(INSTALLED)
	$(PY) -m dev.bench $(BENCH_ARGS)

## neighbour: a quiet webhook's latency beside a slow one's 400 messages, on the local run (contract, section 16)
neighbour: $(INSTALLED)
	$(PY) -m dev.neighbour $(NEIGHBOUR_ARGS)

## chaos: the local run's worker killed while it delivers (600 events, 20 people, 2 webhooks), and
## contract section 13 checked: delivered, lost, order breaks, sequence gaps and changes, re-sends after 2xx
chaos: $(INSTALLED)
	$(PY) -m dev.chaos $(CHAOS_ARGS)

## faults: the local run on an AWS that fails as AWS does (dev/fault_proxy.py: 500s, throttling, lost answers,
## slow answers, DynamoDB brownouts; 400 events, 20 people, 2 webhooks), and what reached the endpoints checked:
## lost, order, sequences, duplicates, the delivery log, dispatches refused. FAULTS_ARGS=--brownout-seconds 10: harsher
faults: $(INSTALLED)
	$(PY) -m dev.faults $(FAULTS_ARGS)

browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the console tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) .pytest_cache build
