# The lab's commands. Everything sets itself up first: `make bench` and `make test`
# work on a fresh clone with Python 3.12 installed.
#   make bench [PROFILE=smoke|quick|servers|latency|full] [ENGINE=auto|docker|local|k8s] [FRAMEWORKS=fastapi,flask|all] [SCENARIOS=json,io]
#              [SERVER_CORES=0] [SERVER_CPUS=auto|all|0.5] [LOCUST_CORES=1]
#   make report [RUN=<run-id>]      make test      make serve      make ui
#   make compare A=<run> B=<run> [FORCE=1]      make share [RUN=<run-id>]      make unpack ARCHIVE=<file>
#   make latency URL=http://127.0.0.1:8001/json RATE=500 [DURATION=10] [OUT=path] [ARRIVALS=poisson] [ALLOW_REMOTE=1]
#   make up / make down / make logs: the whole lab in containers (docker-compose.yml)

SHELL := /bin/bash
VENV := .venv
LAB := $(VENV)/lab/bin/python
SERVICES := $(patsubst services/%/requirements.txt,%,$(wildcard services/*/requirements.txt))
SERVICE_VENVS := $(foreach s,$(SERVICES),$(VENV)/services/$(s)/.installed)

PROFILE ?= quick
ENGINE ?= auto
# `make up` is plain `docker compose up`: the same file, no settings of its own.
COMPOSE := docker compose
# Refuses (one line) when another clone's containers hold the lab's compose project.
OWN_LAB := scripts/own-lab
RUN ?=
BENCH_ARGS = --profile $(PROFILE) --engine $(ENGINE) \
	$(if $(FRAMEWORKS),--frameworks $(FRAMEWORKS)) $(if $(SCENARIOS),--scenarios $(SCENARIOS)) \
	$(if $(SERVER_CORES),--server-cores $(SERVER_CORES)) $(if $(SERVER_CPUS),--budget $(SERVER_CPUS)) \
	$(if $(LOCUST_CORES),--locust-cores $(LOCUST_CORES))

.PHONY: setup bench latency report compare share unpack test serve ui check list lock clean up down logs

setup: $(VENV)/lab/.installed $(SERVICE_VENVS)

$(VENV)/lab/.installed: requirements/lab.txt
	scripts/setup-venv $(VENV)/lab $<

$(VENV)/services/%/.installed: services/%/requirements.txt
	scripts/setup-venv $(VENV)/services/$* $<

# The benchmark, then the report on what it measured (also after Ctrl-C: finished steps are kept).
bench: setup
	@$(if $(filter local k8s,$(ENGINE)),true,$(OWN_LAB))
	@$(LAB) -m lab bench $(BENCH_ARGS); status=$$?; \
	if [ $$status -ne 2 ]; then $(LAB) -m analysis report || true; fi; exit $$status

report: $(VENV)/lab/.installed
	$(LAB) -m analysis report $(RUN)

# Open-model latency of one URL at a fixed rate, from each request's intended send (docs/latency.md).
latency: $(VENV)/lab/.installed
	@$(LAB) -m lab latency --url '$(URL)' --rate '$(RATE)' --duration '$(or $(DURATION),10)' \
		$(if $(OUT),--out '$(OUT)') $(if $(ARRIVALS),--arrivals $(ARRIVALS)) $(if $(ALLOW_REMOTE),--allow-remote)

# Two runs side by side; refused when their manifests say they are not comparable (FORCE=1: warn instead).
compare: $(VENV)/lab/.installed
	$(LAB) -m analysis compare $(A) $(B) $(if $(FORCE),--force)

# results/<run-id>.tar.gz: the run, its manifest and its report, to hand to someone else.
share: $(VENV)/lab/.installed
	$(LAB) -m analysis share $(RUN)

# A shared archive into results/ (never over an existing run); then `make report RUN=results/<run-id>`.
unpack: $(VENV)/lab/.installed
	$(LAB) -m analysis unpack $(ARCHIVE)

# pytest's exit 5 ("no tests collected") is a failure here, not a pass.
test: setup
	@$(LAB) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$status

# The three services on loopback (8001-8003) until Ctrl-C; FRAMEWORKS=flask-granian,quart or all for variants.
serve: setup
	$(LAB) -m lab serve $(if $(FRAMEWORKS),--frameworks $(FRAMEWORKS))

# Locust's web UI on http://127.0.0.1:8089 against the services of `make serve` (pick the target there).
ui: $(VENV)/lab/.installed
	$(VENV)/lab/bin/locust -f locustfiles --class-picker --web-host 127.0.0.1 --web-port 8089

# Is every running service keeping the endpoint contract?
check: $(VENV)/lab/.installed
	$(LAB) -m lab check

list: $(VENV)/lab/.installed
	$(LAB) -m lab list

# Re-resolve the pinned locks after editing a requirements.in (needs network access to PyPI).
lock: $(VENV)/lab/.installed
	$(VENV)/lab/bin/pip install --quiet --require-hashes --only-binary=:all: -r requirements/uv.txt
	for s in $(SERVICES); do \
		$(VENV)/lab/bin/uv pip compile --quiet --no-header --generate-hashes --python-version 3.12 services/$$s/requirements.in -o services/$$s/requirements.txt; \
	done
	$(VENV)/lab/bin/uv pip compile --quiet --no-header --generate-hashes --python-version 3.12 requirements/locust.in -o requirements/locust.txt
	$(VENV)/lab/bin/uv pip compile --quiet --no-header --generate-hashes --python-version 3.12 requirements/lab.in -o requirements/lab.txt

# The lab in containers: services, PostgreSQL, Locust web UI on http://127.0.0.1:8089.
up:
	@$(OWN_LAB)
	$(COMPOSE) up --build --detach --wait
	@echo "Locust web UI: http://127.0.0.1:8089 (pick a scenario and a target); services on 127.0.0.1:8001-8003"

# Everything the lab started, baselines and leftover Locust run containers included.
down:
	@$(OWN_LAB)
	$(COMPOSE) --profile '*' down --remove-orphans

logs:
	@$(OWN_LAB)
	$(COMPOSE) --profile '*' logs --follow

clean:
	rm -rf $(VENV) .pytest_cache
