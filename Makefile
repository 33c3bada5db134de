# The project's front door: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV        := .venv
BIN         := $(VENV)/bin
PY          := $(BIN)/python
STAMP       := $(VENV)/.installed
OUT         ?= outputs
# Real NYC data, used by tests and benchmarks only; tests that need it skip when it is absent.
MLE_DATA_DIR ?= $(abspath ../shared/data)
export MLE_DATA_DIR
SYNTH_ROWS  ?= 6000
SYNTH_SEED  ?= 0
PARAMS      ?= params.yaml
WORKERS     ?= 2

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip sync --quiet --python $(PY) requirements.txt
	$(BIN)/uv pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

.PHONY: install
install: $(STAMP) ## Create .venv with the pinned requirements and the package (idempotent)

.PHONY: lock
lock: ## Re-pin requirements.txt from pyproject.toml
	@test -x $(BIN)/uv || { $(PYTHON_BOOT) -m venv $(VENV) && $(PY) -m pip install --quiet uv; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.txt

.PHONY: synth
synth: $(STAMP) ## Write the synthetic demo listings to $(OUT)/demo/listings.csv.gz
	$(BIN)/mle-challenge data synth --rows $(SYNTH_ROWS) --seed $(SYNTH_SEED) --output $(OUT)/demo/listings.csv.gz

.PHONY: run
run: synth ## The main job on the embedded demo data: listings → clean → train → evaluate → register
	$(BIN)/mle-challenge data clean --listings $(OUT)/demo/listings.csv.gz --output $(OUT)/demo/clean.parquet
	$(BIN)/mle-challenge train --listings $(OUT)/demo/listings.csv.gz --params $(PARAMS) --outputs $(OUT) --workers $(WORKERS)

.PHONY: pipeline
pipeline: $(STAMP) ## Run the training pipeline on LISTINGS=path-or-URL
	@test -n "$(LISTINGS)" || { echo "usage: make pipeline LISTINGS=path/or/url/listings.csv.gz"; exit 2; }
	$(BIN)/mle-challenge train --listings $(LISTINGS) --params $(PARAMS) --outputs $(OUT) --workers $(WORKERS)

.PHONY: bench-pipeline
bench-pipeline: $(STAMP) ## Print cold and no-change re-run times of the pipeline on the NYC data
	$(PY) -m mle_challenge.bench pipeline --listings $(MLE_DATA_DIR)/nyc-2021-12/listings_reconstructed.csv.gz --params $(PARAMS) --workers $(WORKERS)

.PHONY: test
test: $(STAMP) ## Run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: lint
lint: $(STAMP) ## Lint and type-check (ruff check, ruff format --check, mypy)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mle_challenge

.PHONY: format
format: $(STAMP) ## Rewrite the code in the project's format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: clean
clean: ## Remove build outputs (keeps .venv)
	rm -rf $(OUT) build dist .pytest_cache .mypy_cache .ruff_cache
