# decay-stream: make help
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
JARS   := deploy/kafka-local/lib/.resolved

.DEFAULT_GOAL := help
.PHONY: help setup setup-dev demo worker kafka-local test test-fast lint fmt typecheck check bench gpu-check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[train,dev]"
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[bench]"
	touch $@ $(VENV)/.installed

$(JARS): deploy/kafka-local/pom.xml
	mvn -q -B -f deploy/kafka-local/pom.xml dependency:copy-dependencies
	touch $@

setup: $(VENV)/.installed $(JARS) ## install the worker and the Kafka jars
setup-dev: $(VENV)/.installed-dev $(JARS) ## install everything for training and tests

demo: setup ## the main job: local broker + worker + real data replay, output shown
	$(BIN)/decay-stream demo

worker: setup ## run a worker (local broker unless DECAY_BOOTSTRAP_SERVERS is set)
	$(BIN)/decay-stream worker

kafka-local: setup ## run a local Kafka broker on 127.0.0.1:9092 in the foreground
	$(BIN)/decay-stream kafka-local

test: setup-dev ## all tests (unit, model, integration on a real broker)
	$(BIN)/pytest

test-fast: setup-dev ## unit tests only
	$(BIN)/pytest tests/unit

lint: setup-dev ## ruff lint and format check
	$(BIN)/ruff check stream_app export tests bench
	$(BIN)/ruff format --check stream_app export tests bench

fmt: setup-dev ## format the code
	$(BIN)/ruff format stream_app export tests bench
	$(BIN)/ruff check --fix stream_app export tests bench

typecheck: setup-dev ## mypy --strict on stream_app, export and bench
	$(BIN)/mypy

check: lint typecheck test ## everything CI runs

clean: ## remove the virtualenv, jars and local data
	rm -rf $(VENV) deploy/kafka-local/lib var

.PHONY: validate-deploy k8s-rules dashboard lock asyncapi
asyncapi: setup ## regenerate docs/asyncapi.json (every topic) from the schemas and the topology
	$(BIN)/python -m stream_app.asyncapi > docs/asyncapi.json

validate-deploy: setup-dev ## check deploy/: promtool, compose, Kubernetes schemas, metric names
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts.test.yml
	@if docker compose version >/dev/null 2>&1; then docker compose -f deploy/docker-compose.yml config --quiet; \
	elif command -v docker-compose >/dev/null; then docker-compose -f deploy/docker-compose.yml config --quiet; \
	else echo "docker compose not installed: compose file checked by tests/deploy/test_deploy.py only"; fi
	$(BIN)/kubernetes-validate --strict --quiet deploy/k8s/base/service.yaml deploy/k8s/base/pdb.yaml deploy/k8s/base/serviceaccount.yaml deploy/k8s/base/networkpolicy.yaml deploy/k8s/base/secret.example.yaml deploy/k8s/cpu/deployment.yaml deploy/k8s/gpu/deployment.yaml deploy/k8s/stateful/cpu/statefulset.yaml
	@# Every variant without the CRD-backed components (any cluster) and with them (with-crds/);
	@# KEDA's and prometheus-operator's kinds: against their CRDs' schemas in tests/deploy/test_k8s_variants.py.
	@mkdir -p var/k8s && for v in cpu gpu stateful/cpu stateful/gpu with-crds/cpu with-crds/gpu with-crds/stateful-cpu with-crds/stateful-gpu; do \
		out=var/k8s/$$(echo $$v | tr / -).yaml; kubectl kustomize deploy/k8s/$$v > $$out || exit 1; \
		$(BIN)/kubernetes-validate --strict --quiet $$out 2>&1 | grep -v "Couldn't find schema for kind \(ScaledObject\|PodMonitor\|PrometheusRule\)"; \
		$(BIN)/kubernetes-validate --strict --quiet $$out >/dev/null 2>&1 || exit 1; echo "deploy/k8s/$$v: rendered and valid"; done
	$(BIN)/python deploy/grafana/build_dashboard.py --check
	$(BIN)/pytest -q tests/deploy/test_deploy.py tests/deploy/test_k8s_variants.py tests/deploy/test_dashboard_generated.py tests/deploy/test_locks.py

dashboard: setup-dev ## regenerate deploy/grafana/dashboards/decay-stream.json from deploy/grafana/build_dashboard.py
	$(BIN)/python deploy/grafana/build_dashboard.py

k8s-rules: setup-dev ## regenerate deploy/k8s/components/prometheus/prometheusrule.yaml from deploy/prometheus/alerts.yml
	$(BIN)/python deploy/k8s/render_rules.py

gpu-check: setup ## CUDA provider check: install [gpu] wheels, parity, step and worker GPU vs CPU (no GPU: CPU part, exit 0)
	$(BIN)/python -m bench.gpu_check --install $(if $(QUICK),--quick)

bench: $(VENV)/.installed-bench $(JARS) ## benchmark: raw aiokafka vs bare Faust vs worker + model microbench (EVENTS=200000 RUNS=3)
	$(BIN)/python -m bench.run --events $(or $(EVENTS),200000) --runs $(or $(RUNS),3)

.PHONY: lock
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header --annotation-style line --extra rocksdb --extra json-logs
lock: setup-dev ## write deploy/requirements/{cpu,gpu}.lock (hashed pins of the two images) with uv
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile -q pyproject.toml deploy/requirements/build.in deploy/requirements/cpu.in \
		--override deploy/requirements/cpu-overrides.txt $(LOCK_FLAGS) -o deploy/requirements/cpu.lock
	$(BIN)/uv pip compile -q pyproject.toml deploy/requirements/build.in --extra gpu \
		$(LOCK_FLAGS) -o deploy/requirements/gpu.lock
