# anjian — `make run` serves the demo, `make test` runs the whole suite. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export ANJIAN_DATA_DIR ?= $(CURDIR)/var

.PHONY: run test install system-deps db demo serve bench samples clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests and PDFs need (CJK fonts, HarfBuzz subsetting, poppler; wrk for benchmarks).
# Installed only when missing and when we may (root); otherwise say what to install.
system-deps:
	@bash scripts/system-deps.sh

db: install
	$(VENV)/bin/anjian db upgrade

demo: db
	$(VENV)/bin/anjian demo

serve: install
	$(VENV)/bin/anjian serve

run: demo
	$(VENV)/bin/anjian serve

test: install system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# One PDF + first-page PNG of every document type from one scenario, into docs/samples/.
samples: install system-deps
	PYTHONPATH=$(CURDIR) $(PY) scripts/samples.py --out docs/samples

bench: install system-deps
	$(PY) bench/transitions.py

clean:
	rm -rf var .pytest_cache
