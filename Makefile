# Two entry points: `make demo` and `make test` (and `make lint`, the linter and type checker CI runs, and `make docs`,
# the API reference). Each creates .venv when missing and installs the package with its dependencies first, so
# nothing relies on a hand-made environment.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# src/noisereg/__init__.py holds the version that the installed metadata records
$(STAMP): $(BIN)/python pyproject.toml constraints.txt src/noisereg/__init__.py
	$(BIN)/pip install "torch==2.14.1" "torchvision==0.29.1" || $(BIN)/pip install torch torchvision
	$(BIN)/pip install -e ".[test,lint]" -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/noisereg demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# ruff over the code (tests, benchmarks and docs included) and mypy over src/; their settings: pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs
	$(BIN)/mypy src

# the API reference, generated from the docstrings by pdoc (docs/build_api.py): open docs/api/index.html
docs: $(STAMP)
	rm -rf docs/api
	$(BIN)/python docs/build_api.py docs/api

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache docs/api
