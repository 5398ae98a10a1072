# CardioCart: `make run` sets up and starts the cart; `make test` sets up and passes the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
TRAIN_STAMP := $(VENV)/.train-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: setup run test test-fast check bench eval models lint stress doctor clean system-run system-test

setup: $(STAMP)

$(STAMP): pyproject.toml
	@bash provisioning/system-packages.sh run
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: setup
	$(BIN)/python -m device migrate
	$(BIN)/python -m device run

system-test:
	@bash provisioning/system-packages.sh test

# the rules tools hold (house rule 10): style (ruff), layers (import-linter contracts in pyproject.toml), types (mypy
# on device/domain, echo, inference, store). Pinned in the test extra; part of `make test`, so CI runs them.
check: setup
	$(BIN)/ruff check device webui models tests
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

test: system-test setup check
	$(BIN)/python -m pytest -q -m "not hardware" --durations=25 $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -q -m "not hardware and not browser and not slow" $(PYTEST_ARGS)

$(TRAIN_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[train]'
	@rm -f $(VENV)/.train-*
	@touch $@

models: $(TRAIN_STAMP)
	$(BIN)/python -m models.training.all

bench: setup
	$(BIN)/python -m device.bench

eval: $(TRAIN_STAMP)
	$(BIN)/python -m device.eval

stress: system-test setup
	CARDIOCART_STRESS=1 $(BIN)/python -m pytest -q -m "not hardware" tests/stress $(PYTEST_ARGS)
	$(BIN)/python -m tests.stress.report

doctor: setup
	$(BIN)/python -m device doctor

lint: check

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
