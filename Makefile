# anjian — `make run` serves the demo, `make test` runs the whole suite. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export ANJIAN_DATA_DIR ?= $(CURDIR)/var

.PHONY: run test install system-deps db demo serve bench soak soak-short audit samples screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

# The application's bytecode compiled ahead (quick when it is up to date): a process that cannot write
# it — PYTHONDONTWRITEBYTECODE, a read-only checkout — would otherwise compile ~250 modules at every
# start (the derive process's cold start, every `anjian` command; docs/performance.md, session 28).
install: $(STAMP)
	@$(PY) -m compileall -q -j 0 cases api workflows notifications state_machines anjian > /dev/null

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

# The main pages at desktop and phone width, into docs/screenshots/ (Debian's Chromium, demo data).
screenshots: install system-deps
	PYTHONPATH=$(CURDIR) $(PY) scripts/screenshots.py --out docs/screenshots

bench: install system-deps
	$(PY) bench/transitions.py

# 80 % reads / 20 % actions against `anjian serve` (API + Prefect + flows) on loopback: errors, p99, RSS.
# Needs the `bench` extra (psutil; without it RSS is read from /proc).
soak: install
	$(PIP) install --quiet -e '.[test,bench]'
	$(PY) bench/soak.py --minutes 30

soak-short: install
	$(PIP) install --quiet -e '.[test,bench]'
	$(PY) bench/soak.py --minutes 2

# pip-audit over the installed environment: fails on a known vulnerability with a fix available;
# says loudly (and passes) when no vulnerability service is reachable (scripts/audit_deps.py).
audit: install
	$(PY) scripts/audit_deps.py

clean:
	rm -rf var .pytest_cache
