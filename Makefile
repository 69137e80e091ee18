# `make run` and `make test` work on a fresh clone: they create .venv and install what is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres test-loaded drills lint format check-redis migrate bench

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

check-redis: $(STAMP)
	@$(BIN)/python -m config.check_redis

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

run: check-redis migrate
	$(BIN)/python manage.py ensure_demo_user
	@echo "Dashboard: http://127.0.0.1:8000/   (Ctrl-C stops web, worker and beat)"
	$(BIN)/honcho start -f Procfile

test: check-redis
	$(BIN)/python -m pytest

# The suite against PostgreSQL. Drills, workers and the browser start their own processes (on
# SQLite files of their own), so they are left to `make test`.
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
test-postgres: check-redis
	DATABASE_URL=$(DATABASE_URL) $(BIN)/python -m pytest -m "not browser and not drill and not worker"

# The whole suite RUNS times with both cores loaded by stress-ng (docs/TESTING.md).
RUNS ?= 3
test-loaded: check-redis
	@command -v stress-ng >/dev/null || { apt-get update -q && apt-get install -y -q stress-ng; }
	@stress-ng --cpu 2 --quiet & trap "kill $$! 2>/dev/null" EXIT; \
	for run in $$(seq 1 $(RUNS)); do \
		echo "== loaded run $$run of $(RUNS)"; \
		$(BIN)/python -m pytest -q -p no:cacheprovider || exit 1; \
	done

# The failure drills alone (make test runs them too): real Redis, web, worker, beat, simulated org.
drills: check-redis
	$(BIN)/python -m pytest -m drill

# Benchmarks (docs/PERFORMANCE.md): every figure against a baseline measured in the same run.
# `make bench ARGS=--quick` runs each at a small size (a smoke test, never judged on timing).
bench: check-redis
	$(BIN)/python -m bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy config analytics_worker dashboard genesys_sim

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
