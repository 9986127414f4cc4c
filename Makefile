# One command sets up and opens the course (make lab); one sets up and tests it (make test).
# Both create .venv and install into it when needed (make install is the shared step).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8888
NOTEBOOK ?= release/01_likelihood/01_likelihood.ipynb
# `make grade ASSIGNMENTS="03_minus_sign" ARGS="--workers 4"`: what to grade, and how.
ASSIGNMENTS ?=
ARGS ?=

.PHONY: install lab test lint format release grade bench clean

install: $(STAMP)

# Reinstall whenever the dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lab: install
	@$(BIN)/python -m course.lab --host $(HOST) --port $(PORT) --notebook $(NOTEBOOK)

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

release: install
	$(BIN)/autograder release

# Grades submitted/<student_id>/<assignment>/; exits 3 when something was left ungraded.
grade: install
	$(BIN)/autograder grade $(ASSIGNMENTS) $(ARGS)

bench: install
	$(BIN)/python -m tests.benchmarks.grading

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache artifacts
