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
# A project file (`mle-challenge init` writes one): the commands below take --project $(PROJECT).
# Its own sections are its parameters, so with PROJECT= they get --params only when PARAMS is
# given (on the command line or in the environment), never the repository's params.yaml.
PROJECT     ?=
PROJECT_ARG  = $(if $(PROJECT),--project $(PROJECT))
STAGE_ARGS   = $(if $(PROJECT),$(PROJECT_ARG) $(if $(filter command line environment%,$(origin PARAMS)),--params $(PARAMS)),--params $(PARAMS))
WORKERS     ?= 2
# Serving and containers: empty MODEL_TAG/BENTO_TAG mean the newest one.
MODEL_TAG   ?=
BENTO_TAG   ?=
# MODEL_VERSION: the data scientists' earlier name for MODEL_TAG (name:version), accepted as is.
MODEL_VERSION ?=
ifneq ($(MODEL_VERSION),)
ifneq ($(MODEL_TAG),)
ifneq ($(MODEL_TAG),$(MODEL_VERSION))
$(error MODEL_TAG=$(MODEL_TAG) and MODEL_VERSION=$(MODEL_VERSION) differ: MODEL_VERSION is another name for MODEL_TAG, give one of them)
endif
endif
MODEL_TAG := $(MODEL_VERSION)
endif
# The image run-docker runs: DOCKER_IMAGE (the earlier name), else BENTO_TAG (an image built by
# build-docker is tagged as its bento).
DOCKER_IMAGE ?=
# One registered name per city (price_classifier_boston); empty: the params' register.model_name
# for training, price_classifier for serving.
MODEL_NAME  ?=
PORT        ?= 3000
SINCE       ?= 1h
# Scheduled retraining: a crontab line in UTC (03:00 every Monday); SCHEDULE_ARGS=--once for one run.
CRON        ?= 0 3 * * 1
SCHEDULE_ARGS ?=
ACTUALS     ?=
BASE_IMAGE  ?=
LOCAL_BASE  := mle-challenge-base:bookworm-py3.11
# CA certificates (PEM) that image builds trust, for downloads behind a TLS-intercepting proxy:
# the host's trust store by default, so that a build works wherever the host's downloads do.
CA_BUNDLE   ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
export CA_BUNDLE

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(PY) requirements.txt
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
run: synth ## The main job on the demo data: listings → clean → train → evaluate → register → gate → promote
	$(BIN)/mle-challenge data clean --listings $(OUT)/demo/listings.csv.gz --output $(OUT)/demo/clean.parquet
	$(BIN)/mle-challenge train --listings $(OUT)/demo/listings.csv.gz $(STAGE_ARGS) --outputs $(OUT) --workers $(WORKERS) --promote $(if $(MODEL_NAME),--model-name $(MODEL_NAME))

.PHONY: pipeline
pipeline: $(STAMP) ## Run the training pipeline on LISTINGS=path-or-URL [MODEL_NAME=price_classifier_boston] [PROJECT=project.yaml]
	@test -n "$(LISTINGS)" || { echo "usage: make pipeline LISTINGS=path/or/url/listings.csv.gz"; exit 2; }
	$(BIN)/mle-challenge train --listings $(LISTINGS) $(STAGE_ARGS) --outputs $(OUT) --workers $(WORKERS) $(if $(MODEL_NAME),--model-name $(MODEL_NAME))

.PHONY: schedule
schedule: $(STAMP) ## Retrain on LISTINGS=… at each CRON tick (UTC), promote what passes; /metrics on :9108 [SCHEDULE_ARGS=--once]
	@test -n "$(LISTINGS)" || { echo 'usage: make schedule LISTINGS=path/or/url [CRON="0 3 * * 1"] [SCHEDULE_ARGS="--once --monitor"]'; exit 2; }
	$(BIN)/mle-challenge schedule --listings $(LISTINGS) --cron "$(CRON)" $(STAGE_ARGS) --outputs $(OUT) --workers $(WORKERS) $(if $(MODEL_NAME),--model-name $(MODEL_NAME)) $(SCHEDULE_ARGS)

.PHONY: bench-pipeline
bench-pipeline: $(STAMP) ## Print cold and no-change re-run times of the pipeline on the NYC data
	$(PY) -m benchmarks.bench pipeline --listings $(MLE_DATA_DIR)/nyc-2021-12/listings_reconstructed.csv.gz --params $(PARAMS) --workers $(WORKERS)

.PHONY: bench-run
bench-run: $(STAMP) ## Print wall and CPU time of `make run`'s training on the demo data, and its boosting rounds
	$(PY) -m benchmarks.bench run --rows $(SYNTH_ROWS) --seed $(SYNTH_SEED) --params $(PARAMS) --workers $(WORKERS)

.PHONY: bench-refit
bench-refit: $(STAMP) ## Print whether select.refit helps: test figures before and after it, NYC and synthetic, 3 seeds
	$(PY) -m benchmarks.bench refit --listings $(MLE_DATA_DIR)/nyc-2021-12/listings_reconstructed.csv.gz --params $(PARAMS)

.PHONY: bench-ceiling
bench-ceiling: $(STAMP) ## Print how far the 11 API fields go on NYC: learning curve, agreement of identical listings
	$(PY) -m benchmarks.bench ceiling --listings $(MLE_DATA_DIR)/nyc-2021-12/listings_reconstructed.csv.gz --params $(PARAMS)

.PHONY: serve
serve: $(STAMP) ## Serve MODEL_TAG (default: MODEL_NAME's production, else newest) on 127.0.0.1:$(PORT) from source
	MLE_MODEL_TAG=$(MODEL_TAG) $(if $(MODEL_NAME),MLE_MODEL_NAME=$(MODEL_NAME)) $(BIN)/bentoml serve mle_challenge.service:PriceClassifier --host 127.0.0.1 --port $(PORT)

.PHONY: build-bento
build-bento: $(STAMP) ## Build a bento serving exactly MODEL_TAG=name:version (default: MODEL_NAME's or PROJECT's production); FOLLOW=1: it follows production
	$(BIN)/mle-challenge bento build $(if $(MODEL_TAG),--model $(MODEL_TAG)) $(if $(MODEL_NAME),--model-name $(MODEL_NAME)) $(PROJECT_ARG) $(if $(FOLLOW),--follow)

.PHONY: docker-engine
docker-engine: ## Install docker.io and start dockerd where no engine answers
	@bash deploy/docker/docker-engine.sh

.PHONY: base-image
base-image: docker-engine ## Build $(LOCAL_BASE) (bookworm + Python 3.11) via debootstrap, no registry
	bash deploy/docker/base-image.sh $(LOCAL_BASE)

.PHONY: build-docker
build-docker: $(STAMP) docker-engine ## Containerize BENTO_TAG (default: MODEL_NAME's newest bento) [BASE_IMAGE=] [CA_BUNDLE=]
	$(BIN)/mle-challenge bento containerize $(BENTO_TAG) $(if $(MODEL_NAME),--model-name $(MODEL_NAME)) $(PROJECT_ARG) $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) $(if $(CA_BUNDLE),--ca-bundle $(CA_BUNDLE))

# The arguments are checked before the engine script, which may install packages and start a
# daemon: a usage error must cost nothing.
.PHONY: run-docker
run-docker: ## Run image BENTO_TAG (or DOCKER_IMAGE) on 127.0.0.1:$(PORT)
	@test -n "$(DOCKER_IMAGE)$(BENTO_TAG)" || { echo "usage: make run-docker BENTO_TAG=price_classifier_service:<version> (or DOCKER_IMAGE=<image>) [PORT=3000]"; exit 2; }
	@test -z "$(DOCKER_IMAGE)" || test -z "$(BENTO_TAG)" || test "$(DOCKER_IMAGE)" = "$(BENTO_TAG)" || { echo "error: DOCKER_IMAGE=$(DOCKER_IMAGE) and BENTO_TAG=$(BENTO_TAG) differ: give one image"; exit 2; }
	@bash deploy/docker/docker-engine.sh
	docker run --rm -p 127.0.0.1:$(PORT):3000 $(or $(DOCKER_IMAGE),$(BENTO_TAG))

.PHONY: stack-up
stack-up: $(STAMP) docker-engine ## The whole system in containers (deploy/compose): build what is missing, start, wait, print URLs
	@docker image inspect $(LOCAL_BASE) >/dev/null 2>&1 || $(MAKE) --no-print-directory base-image
	PYTHON=$(abspath $(PY)) bash deploy/compose/stack.sh up

.PHONY: stack-demo
stack-demo: ## The story on the running stack, step by step: train, serve, log, drift, retrain, follow
	bash deploy/compose/stack.sh demo

.PHONY: stack-down
stack-down: ## Stop the stack; its volumes (models, prediction log, metrics) stay
	bash deploy/compose/stack.sh down

.PHONY: stack-clean
stack-clean: ## Remove the stack with its volumes and secrets, after asking (YES=1: no question)
	YES=$(YES) bash deploy/compose/stack.sh clean

.PHONY: docs
docs: $(STAMP) ## Regenerate docs/openapi.yaml from the service (needs a registered model)
	MLE_MODEL_TAG=$(MODEL_TAG) $(BIN)/mle-challenge openapi --output docs/openapi.yaml

.PHONY: bench-serve
bench-serve: $(STAMP) ## Serve the bento under wrk at concurrency 1 and 8 beside the baseline and a bare floor
	$(PY) -m benchmarks.bench serve --listings $(MLE_DATA_DIR)/nyc-2021-12/listings_reconstructed.csv.gz $(if $(BENTO_TAG),--bento $(BENTO_TAG))

.PHONY: bench-batch
bench-batch: $(STAMP) ## Rows/s and peak memory of batch prediction on NYC scaled to 300k and 3M rows
	$(PY) -m benchmarks.bench batch --listings $(MLE_DATA_DIR)/nyc-2021-12/listings_reconstructed.csv.gz

.PHONY: monitor
monitor: $(STAMP) ## Drift and realized performance of the last SINCE (1h) of the prediction log [ACTUALS=later listings]
	$(BIN)/mle-challenge monitor --since $(SINCE) --report $(OUT)/monitor $(STAGE_ARGS) $(if $(ACTUALS),--actuals $(ACTUALS))

.PHONY: bench-monitor
bench-monitor: $(STAMP) ## Print drift verdicts on 20 seeds of synthetic later months, and the time of one monitoring run
	$(PY) -m benchmarks.bench monitor

.PHONY: bench-follow
bench-follow: $(STAMP) ## Print errors, p99 and swap delays of a following service under wrk while production moves 6 times
	$(PY) -m benchmarks.bench follow

.PHONY: test
test: $(STAMP) ## Run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: audit
audit: $(STAMP) ## Known vulnerabilities in the locked dependencies (pip-audit); says plainly when it cannot audit
	$(PY) .ci/audit.py

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
