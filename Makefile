# The two commands a new machine needs: `make run` and `make test`. Each sets up what it uses.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: run test package terraform policies bench chaos clean browser

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(INSTALLED)

## run: the API and console on http://127.0.0.1:$${PORT:-8000}, the worker, and an embedded moto backend
## (its data kept in $${LOCAL_STATE_DIR:-.local-state}; FRESH=1 starts afresh)
run: $(INSTALLED)
	$(PY) -m dev.run $(if $(FRESH),--fresh)

## test: the whole test suite (the console's tests drive Debian's Chromium, installed here if missing)
test: $(INSTALLED) browser
	$(PY) -m pytest $(PYTEST_ARGS)

## package: build/package/sam.json (SAM/CloudFormation) and deployment.zip, for STAGE (default prod)
package: $(INSTALLED)
	$(PY) -m dev.package --stage $(or $(STAGE),prod)

## terraform: build/terraform/chalice.tf.json, the same stack for current Terraform, for STAGE
terraform: $(INSTALLED)
	$(PY) -m dev.terraform --stage $(or $(STAGE),prod)

## policies: .chalice/policy-<function>-<stage>.json, the policies chalice deploy reads, from .chalice/policy-templates
policies: $(INSTALLED)
	$(PY) -m dev.iam

## bench: cost, speed and scale figures, printed and written to docs/benchmarks.md
bench: $(INSTALLED)
	$(PY) -m dev.bench $(BENCH_ARGS)

## chaos: the local run's worker killed while it delivers (600 events, 20 people, 2 webhooks), and
## contract section 13 checked: delivered, lost, order breaks, sequence gaps and changes, re-sends after 2xx
chaos: $(INSTALLED)
	$(PY) -m dev.chaos $(CHAOS_ARGS)

browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the console tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) .pytest_cache build
