# Darvaza: the two commands are `make run` and `make test`.
# Both install what they need: uv (into .tools/ when it is not already on PATH),
# then the locked dependencies (uv.lock) into .venv/.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/$(TOOLS)/bin/uv)
VENV_STAMP := .venv/.darvaza-synced

export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: run test evidence-gates lint typecheck layers contracts contracts-update messages catalogs pytest install system-packages browser-deps screenshots clean bench

run: install
	.venv/bin/darvaza serve

test: install system-packages browser-deps lint typecheck layers contracts catalogs pytest

# Debian packages some tests drive for real (aria2, nginx); installed when missing.
system-packages:
	@bash scripts/system-packages.sh

install: $(VENV_STAMP)

# What the browser tests inject into pages (axe-core), from the npm registry by its lock.
BROWSER_DEPS := tests/browser/node_modules/.package-lock.json
browser-deps: $(BROWSER_DEPS)

$(BROWSER_DEPS): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --silent
	@touch $@

$(VENV_STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked
	@touch $@

$(CURDIR)/$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# Each gate of `make test` run and recorded as `gate` evidence on the configured instance
# (GATES="lint typecheck" for some of them).
GATES ?=
evidence-gates: install system-packages browser-deps
	.venv/bin/python scripts/evidence-gates.py $(GATES)

lint: install
	.venv/bin/ruff check src tests bench scripts
	.venv/bin/ruff format --check src tests bench scripts

typecheck: install
	.venv/bin/mypy

# The layers (pyproject.toml's [tool.importlinter]): nothing imports from above itself.
layers: install
	.venv/bin/lint-imports --no-cache

# The API contract against its committed snapshot (docs/api/openapi.json): a change that
# breaks clients fails unless the version says so; any change must be recorded.
CONTRACT_SNAPSHOT ?= docs/api/openapi.json
contracts: install
	.venv/bin/python -m darvaza.contract check --snapshot $(CONTRACT_SNAPSHOT)

contracts-update: install
	.venv/bin/python -m darvaza.contract update --snapshot $(CONTRACT_SNAPSHOT)

# The console's translation catalogs: `messages` extracts every string, updates the
# catalogs and compiles them; `catalogs` fails while a string is missing or untranslated.
messages: install
	.venv/bin/python -m darvaza.console.catalogs update

catalogs: install
	.venv/bin/python -m darvaza.console.catalogs check

pytest: install browser-deps
	.venv/bin/pytest -n 2 --maxschedchunk 1

# docs/screenshots/: one picture of each main console page, in Persian and in English.
screenshots: install system-packages browser-deps
	.venv/bin/python -m tests.browser.screenshots docs/screenshots

bench: install
	.venv/bin/python -m bench.billing
	.venv/bin/python -m bench.checkout_http
	.venv/bin/python -m bench.audit
	.venv/bin/python -m bench.ops
	.venv/bin/python -m bench.content
	.venv/bin/python -m bench.upload
	.venv/bin/python -m bench.jobs
	.venv/bin/python -m bench.backups

clean:
	rm -rf .venv $(TOOLS) .mypy_cache .pytest_cache .ruff_cache tests/browser/node_modules
