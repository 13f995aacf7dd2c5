# The lab's commands. Everything sets itself up first: `make bench` and `make test`
# work on a fresh clone with Python 3.12 installed.
#   make bench [PROFILE=smoke|quick|full] [FRAMEWORKS=fastapi,flask] [SCENARIOS=json,io]
#              [SERVER_CORES=0] [LOCUST_CORES=1]
#   make report [RUN=<run-id>]      make test      make serve      make ui

SHELL := /bin/bash
VENV := .venv
LAB := $(VENV)/lab/bin/python
SERVICES := $(patsubst services/%/requirements.txt,%,$(wildcard services/*/requirements.txt))
SERVICE_VENVS := $(foreach s,$(SERVICES),$(VENV)/services/$(s)/.installed)

PROFILE ?= quick
ENGINE ?= local
RUN ?=
BENCH_ARGS = --profile $(PROFILE) --engine $(ENGINE) \
	$(if $(FRAMEWORKS),--frameworks $(FRAMEWORKS)) $(if $(SCENARIOS),--scenarios $(SCENARIOS)) \
	$(if $(SERVER_CORES),--server-cores $(SERVER_CORES)) $(if $(LOCUST_CORES),--locust-cores $(LOCUST_CORES))

.PHONY: setup bench report test serve ui check list lock clean

setup: $(VENV)/lab/.installed $(SERVICE_VENVS)

$(VENV)/lab/.installed: requirements/lab.txt
	scripts/setup-venv $(VENV)/lab $<

$(VENV)/services/%/.installed: services/%/requirements.txt
	scripts/setup-venv $(VENV)/services/$* $<

# The benchmark, then the report on what it measured (also after Ctrl-C: finished steps are kept).
bench: setup
	@$(LAB) -m lab bench $(BENCH_ARGS); status=$$?; \
	if [ $$status -ne 2 ]; then $(LAB) -m analysis report || true; fi; exit $$status

report: $(VENV)/lab/.installed
	$(LAB) -m analysis report $(RUN)

# pytest's exit 5 ("no tests collected") is a failure here, not a pass.
test: setup
	@$(LAB) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$status

# The three services on loopback (8001-8003) until Ctrl-C.
serve: setup
	$(LAB) -m lab serve

# Locust's web UI on http://127.0.0.1:8089 against the services of `make serve`.
ui: $(VENV)/lab/.installed
	$(VENV)/lab/bin/locust -f locustfiles --class-picker --web-host 127.0.0.1 --web-port 8089 --host http://127.0.0.1:8001

# Is every running service keeping the endpoint contract?
check: $(VENV)/lab/.installed
	$(LAB) -m lab check

list: $(VENV)/lab/.installed
	$(LAB) -m lab list

# Re-resolve the pinned locks after editing a requirements.in (needs network access to PyPI).
lock: $(VENV)/lab/.installed
	$(VENV)/lab/bin/pip install --quiet uv==0.13.8
	for s in $(SERVICES); do \
		$(VENV)/lab/bin/uv pip compile --quiet --generate-hashes --python-version 3.12 services/$$s/requirements.in -o services/$$s/requirements.txt; \
	done
	$(VENV)/lab/bin/uv pip compile --quiet --generate-hashes --python-version 3.12 requirements/lab.in -o requirements/lab.txt

clean:
	rm -rf $(VENV) .pytest_cache
