# Two commands do everything: `make run` (demo job) and `make test` (all tests and lint).
# Both create .venv and install the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo
PIP := $(BIN)/pip install --disable-pip-version-check -q

.PHONY: install run test lint clean system-packages bench bench-smoke

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: $(BIN)/python requirements.txt pyproject.toml
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	@touch $@

install: $(VENV)/.runtime

run: install
	$(BIN)/python -m segmentation demo-data --customers 5000 --out $(DEMO)/demo_transactions.csv
	$(BIN)/python -m segmentation run $(DEMO)/demo_transactions.csv --out $(DEMO)/output
	$(BIN)/python -m segmentation demo-history $(DEMO)/demo_transactions.csv --model $(DEMO)/output/model \
		--db sqlite:///$(DEMO)/output/segmentation.db
	$(BIN)/python -m dashboard --data $(DEMO)/output

lint: $(VENV)/.dev
	$(BIN)/ruff check segmentation dashboard tests benchmarks

system-packages:
	bash scripts/install-system-packages.sh

test: lint system-packages
	$(BIN)/python -m pytest

bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks.harness

bench-smoke: $(VENV)/.dev
	$(BIN)/python -m benchmarks.harness --smoke --out $(DEMO)/bench-smoke.md

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .ruff_cache
