# The two commands (see README.md) are `make demo` and `make test`. Both set up .venv first (idempotent), at the
# versions of constraints.txt. `make help` lists every target.
.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lab lint lock lock-check clean binder site

VENV_PY := .venv/bin/python
# the interpreter for lint/lock: .venv's when there is one, else the active one (any venv or conda env)
PYTHON ?= $(if $(wildcard $(VENV_PY)),$(VENV_PY),python3)
# `make test SYSTEM_PACKAGES=1`: also apt-get install chromium/nodejs for the browser test (root; CI does this)
SYSTEM_PACKAGES ?= $(KIMI_COOKBOOK_APT)
BOOTSTRAP_FLAGS := $(if $(filter 1,$(SYSTEM_PACKAGES)),--with-system-packages)

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-11s %s\n", $$1, $$2}'
	@echo "  options: make test SYSTEM_PACKAGES=1 (apt-get chromium/nodejs, as root), make clean CONFIRM=1,"
	@echo "    make test KIMI_COOKBOOK_DEMO_RUN=runs/ci (read the notebooks a \`make demo RUN_DIR=runs/ci\` of this checkout ran)"

demo:  ## set up .venv, run every notebook on the embedded server (runs/<time>/, or RUN_DIR=...)
	bash scripts/bootstrap.sh $(BOOTSTRAP_FLAGS)
	.venv/bin/kimi-cookbook demo $(if $(RUN_DIR),--run-dir $(RUN_DIR))

test:  ## everything (what CI runs): set up .venv with test tools, run the whole suite on every core and one more (xdist)
	bash scripts/bootstrap.sh --test $(BOOTSTRAP_FLAGS)
	bash scripts/test.sh

test-fast:  ## the unit tests: no server, no notebook execution, no network (seconds; sets up .venv if missing)
	@[ -x .venv/bin/pytest ] || bash scripts/bootstrap.sh --test
	bash scripts/test.sh -n auto -m "not slow and not network"  # CPU-bound: one worker per core

lab:  ## open JupyterLab on notebooks/ with the cookbook's kernel (sets up .venv if missing)
	@[ -x .venv/bin/jupyter-lab ] || bash scripts/bootstrap.sh
	.venv/bin/jupyter lab --notebook-dir=notebooks

lint:  ## ruff, stripped notebooks, check-notebook --no-execute, README index (no network)
	$(PYTHON) -m ruff check .
	git ls-files '*.ipynb' ':!tests/fixtures' | xargs $(PYTHON) -m nbstripout --keep-id --verify
	$(PYTHON) -m kimi_cookbook check-notebook --no-execute notebooks/*.ipynb
	$(PYTHON) -m kimi_cookbook index --check

lock:  ## re-resolve constraints.txt from pyproject.toml with what PyPI has now (uv), then run make test
	$(PYTHON) scripts/lock.py

lock-check:  ## maintainers: would `make lock` at the lock's recorded date give the same file? (PyPI; not a CI verdict)
	$(PYTHON) scripts/lock.py --check

clean:  ## list runs/, build leftovers and the cookbook's cache; CONFIRM=1 deletes them (.venv is kept)
	@bash scripts/clean.sh $(if $(filter 1,$(CONFIRM)),--delete)

binder:  ## print this repository's Binder link, derived from its GitHub remote
	@bash scripts/binder-url.sh

site:  ## build the static website into build/site/ (notebooks as committed, not run; sphinx -W, links checked)
	bash scripts/bootstrap.sh --test
	.venv/bin/python scripts/build_site.py
