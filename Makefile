# Each target works on a fresh machine with only Python 3.11+: the venv is made on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST_WORKERS ?= 2

.PHONY: bench-tools test-tools venv test test-sqlite lint format demo bench bench-api bench-registry bench-monitoring bench-events bench-telemetry bench-serving clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

venv: $(STAMP)

# The PostgreSQL leg runs when MLGOV_TEST_DATABASE_URL is set (CI sets it); otherwise it is skipped
# with the reason shown in the summary.
test: $(STAMP) test-tools
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

# promtool (Debian's prometheus package) checks the /metrics exposition in the tests. Where it
# cannot be installed (no apt-get, not root) that check is skipped, with the reason, except in CI,
# where the test fails instead (tests/server/metrics/test_prometheus.py).
test-tools:
	@command -v promtool >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
		} >/dev/null 2>&1 || echo "promtool could not be installed: its exposition check is skipped"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: bench-api bench-registry bench-monitoring bench-events bench-telemetry bench-serving

# wrk (Debian's package) drives the HTTP benchmarks; without it they fall back to a Python client
# that shares the cores with the server it measures (bench/_load.py).
bench-tools:
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk >/dev/null 2>&1 \
		|| echo "wrk is not installed: the HTTP benchmarks use the Python driver"

bench-api: $(STAMP) bench-tools
	$(BIN)/python bench/api.py

bench-registry: $(STAMP) bench-tools
	$(BIN)/python bench/registry.py

bench-monitoring: $(STAMP)
	$(BIN)/python bench/monitoring.py

bench-events: $(STAMP)
	$(BIN)/python bench/events.py

bench-telemetry: $(STAMP) bench-tools
	$(BIN)/python bench/telemetry.py

bench-serving: $(STAMP) bench-tools
	$(BIN)/python bench/serving.py

clean:
	rm -rf $(VENV) .venv-bench .venv-mlflow .mypy_cache .ruff_cache .pytest_cache
