# lab2prod: `make run` builds the pipeline on the bundled data, `make test` runs every test.
# Both create .venv and install the pinned dependencies first when needed.
SHELL := /bin/bash
# The Pythons lab2prod supports (pyproject.toml's requires-python; tests/test_packaging.py checks that
# they agree), in order of preference: the first one found makes .venv. 3.11 first: CI's full suite
# runs on it. Another one: `make install PYTHON=python3.13`.
PYTHON_VERSIONS := 3.11 3.12 3.13
PYTHON ?= $(shell for v in $(PYTHON_VERSIONS); do command -v python$$v && exit; done; command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_VERSION := 26.3
NOTEBOOKS := ingest validate split start train select evaluate check register report score score_summary monitor
MODEL_NAME ?= credit-risk
SERVE_PORT ?= 5001
SERVE_WORKERS ?= 1
# REQUEST_LOG=1 (or LAB2PROD_REQUEST_LOG=<folder> in the environment): `make serve` keeps every request
REQUEST_LOG ?=
# the team MLflow server (make mlflow-server): port, and the folder of its proxied artifacts and user store
MLFLOW_SERVER_PORT ?= 5002
MLFLOW_SERVER_DIR ?= $(CURDIR)/mlflow-server
# how long the team server trusts a checked password (seconds; 0 checks its hash on every request)
MLFLOW_AUTH_CACHE_SECONDS ?= 60
# Airflow lives in its own virtual environment with its own pins: its dependencies conflict with MLflow's
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
AIRFLOW_VERSION := 3.3.2
# the venv first: papermill kernels and `mlflow models serve` look up executables on PATH
export PATH := $(CURDIR)/$(BIN):$(PATH)
# MLflow 3 reports usage to mlflow-telemetry.io unless told not to; lab2prod never phones home
# (MLFLOW_DISABLE_TELEMETRY=false make ... opts in)
export MLFLOW_DISABLE_TELEMETRY ?= true

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-wheel test-notebooks lint hooks mlflow-ui mlflow-server airflow-install airflow-dags lab clean score serve export docs

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

JUPYTER_CONFIG := jupyter-config/jupyter_server_config.json
# JupyterLab's page config: ploomber-extension stays off (its only feature, a "Share Notebook" button to
# Ploomber Cloud, throws a TypeError on every Lab page and would send notebooks off the machine)
LAB_PAGE_CONFIG := jupyter-config/labconfig/page_config.json

$(STAMP): pyproject.toml constraints.txt $(JUPYTER_CONFIG) $(LAB_PAGE_CONFIG)
	@$(PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(None if v in "$(PYTHON_VERSIONS)".split() else f"error: {sys.executable} is Python {v}; lab2prod runs on Python $(PYTHON_VERSIONS): make install PYTHON=/path/to/one-of-them")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==$(PIP_VERSION)"
	$(BIN)/pip install --quiet --progress-bar off -c constraints.txt -e ".[notebooks,dev]"
	@# every Jupyter of this environment reads <prefix>/etc/jupyter/jupyter_server_config.json: lab2prod's
	@# contents manager named there keeps Ploomber's cell injection working (Ploomber's own answers HTTP 500)
	install -D -m 644 $(JUPYTER_CONFIG) $(VENV)/etc/jupyter/jupyter_server_config.json
	install -D -m 644 $(LAB_PAGE_CONFIG) $(VENV)/etc/jupyter/labconfig/page_config.json
	touch $(STAMP)

install: $(STAMP) ## Create .venv with the pinned dependencies (constraints.txt)

$(AIRFLOW_STAMP): constraints-airflow.txt
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet "pip==$(PIP_VERSION)"
	$(AIRFLOW_VENV)/bin/pip install --quiet --progress-bar off -c constraints-airflow.txt "apache-airflow==$(AIRFLOW_VERSION)"
	touch $(AIRFLOW_STAMP)

airflow-install: $(AIRFLOW_STAMP) ## Create .venv-airflow: Airflow 3 with its own pins (constraints-airflow.txt), apart from .venv

airflow-dags: $(STAMP) ## Write the Airflow DAGs generated from pipeline.yaml and pipeline.score.yaml into airflow/dags
	$(BIN)/python -m lab2prod_ploomber.airflow --output airflow/dags
	@echo "Point Airflow at them: AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/airflow/dags $(AIRFLOW_VENV)/bin/airflow ..."

run: $(STAMP) ## Build the training pipeline on data/sources/credit/ (ploomber build)
	$(BIN)/ploomber build
	@echo "Open reports/index.html; MLflow UI: make mlflow-ui"

test: lint $(AIRFLOW_STAMP) ## Run the whole test suite: lint first (seconds), then unit, integration (sample env) and nbval (beside the other tests)
	$(BIN)/pytest tests

lint: $(STAMP) ## The hooks of .pre-commit-config.yaml on every file (ruff, import layers, notebooks without outputs, YAML, workflows, ...), then the docs with --strict
	$(BIN)/pre-commit run --all-files --show-diff-on-failure
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site-check

docs: $(STAMP) ## Build the documentation site into site/ (open site/index.html; it works offline)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "Open site/index.html (the search box needs it served: .venv/bin/mkdocs serve, http://127.0.0.1:8000)"

hooks: $(STAMP) ## Install the same hooks into git: they run on every `git commit`
	$(BIN)/pre-commit install

test-unit: $(STAMP) ## Tests not marked integration: no pipeline builds (goal: under a minute on 2 cores)
	$(BIN)/pytest tests -m "not integration"

test-wheel: $(STAMP) ## Build lab2prod's wheel, install it (not editable) in a fresh venv, run its commands there (minutes)
	LAB2PROD_TEST_WHEEL=1 $(BIN)/pytest tests/test_packaging.py -m wheel

test-notebooks: $(STAMP) ## nbval over the pipeline notebooks, in a temporary copy of the project
	$(BIN)/pytest --nbval-lax -p no:cacheprovider $(foreach n,$(NOTEBOOKS),notebooks/$(n).ipynb)

score: $(STAMP) ## Score a batch with the champion: ploomber build of pipeline.score.yaml (values: env.score.yaml)
	$(BIN)/ploomber build --entry-point pipeline.score.yaml
	@echo "Predictions in data/lake/predictions/; summary in reports/score-*.html"

serve: $(STAMP) ## Serve the champion over REST on 127.0.0.1:5001/invocations (REQUEST_LOG=1 keeps every request in data/lake/requests/<day>/; SERVE_PORT, SERVE_WORKERS)
	MLFLOW_TRACKING_URI="$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db}" \
	LAB2PROD_SERVED_MODEL_URI="models:/$(MODEL_NAME)@champion" \
	$(if $(filter-out 0 false no,$(REQUEST_LOG)),LAB2PROD_REQUEST_LOG="$${LAB2PROD_REQUEST_LOG:-$(CURDIR)/data/lake/requests}") \
	$(BIN)/mlflow models serve -m "models:/$(MODEL_NAME)@champion" --env-manager local \
		-h 127.0.0.1 -p $(SERVE_PORT) -w $(SERVE_WORKERS)

export: $(STAMP) ## Export the production notebooks (score.ipynb) as plain scripts under exports/
	$(BIN)/lab2prod export

mlflow-ui: $(STAMP) ## Serve the MLflow UI of the project's store on http://127.0.0.1:5000
	@# MLflow 3.17's UI opens experiments on GenAI traces: "Model training" (top left) or the link shows the runs
	@echo "The runs: choose 'Model training' at the top left once (the browser remembers it); reports/index.html links the build's runs"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --workers 1 \
		--backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db}"

# PostgreSQL store from $$MLFLOW_BACKEND_STORE_URI, artifacts proxied into MLFLOW_SERVER_DIR/artifacts,
# MLflow's basic-auth app plus the champion and creation rules of roles.yaml (lab2prod-auth,
# src/lab2prod/team_auth.py; users in MLFLOW_SERVER_DIR/basic_auth.db), the admin password from
# $$MLFLOW_AUTH_ADMIN_PASSWORD: MLflow creates no admin without it, and lab2prod sets no default
# (a password checked once is trusted for MLFLOW_AUTH_CACHE_SECONDS: its scrypt hash costs about 0.1 s of
# CPU per request otherwise; a password changed or a user deleted through the API is dropped at once)
mlflow-server: $(STAMP) ## Team MLflow server on 127.0.0.1:5002: PostgreSQL store (MLFLOW_BACKEND_STORE_URI), proxied artifacts, basic auth (MLFLOW_AUTH_ADMIN_PASSWORD)
	@test -n "$${MLFLOW_BACKEND_STORE_URI:-}" || { echo "error: MLFLOW_BACKEND_STORE_URI is not set: export the PostgreSQL URL, e.g. postgresql+psycopg://user:password@127.0.0.1:5432/mlflow" >&2; exit 2; }
	@test -n "$${MLFLOW_AUTH_ADMIN_PASSWORD:-}" || { echo "error: MLFLOW_AUTH_ADMIN_PASSWORD is not set: export the admin password the server creates its admin user with (12 characters or more)" >&2; exit 2; }
	@mkdir -p "$(MLFLOW_SERVER_DIR)/artifacts" && chmod 700 "$(MLFLOW_SERVER_DIR)"
	@printf '[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///%s/basic_auth.db\nadmin_username = %s\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\nauth_cache_ttl_seconds = %s\n' \
		"$(MLFLOW_SERVER_DIR)" "$${MLFLOW_AUTH_ADMIN_USERNAME:-admin}" "$(MLFLOW_AUTH_CACHE_SECONDS)" > "$(MLFLOW_SERVER_DIR)/basic_auth.ini"
	MLFLOW_AUTH_CONFIG_PATH="$(MLFLOW_SERVER_DIR)/basic_auth.ini" MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
	MLFLOW_FLASK_SERVER_SECRET_KEY="$${MLFLOW_FLASK_SERVER_SECRET_KEY:-$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(32))')}" \
		exec $(BIN)/mlflow server --app-name lab2prod-auth --host 127.0.0.1 --port $(MLFLOW_SERVER_PORT) --workers 1 \
		--artifacts-destination "$(MLFLOW_SERVER_DIR)/artifacts"

lab: $(STAMP) ## JupyterLab on 127.0.0.1 with the project's jupyter_server_config.py (as root too)
	$(BIN)/jupyter lab --config jupyter_server_config.py $(if $(filter 0,$(shell id -u)),--allow-root)

clean: ## Remove generated products (lake, reports, MLflow store); keeps .venv
	rm -rf data/lake products mlartifacts mlflow.db exports
	find reports -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
