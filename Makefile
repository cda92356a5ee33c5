# Kaiwa — everyday commands. `make run` and `make test` work on a fresh machine with
# Python 3.12 (pyenv reads .python-version) and nothing else installed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-fast lint format migrate superuser bench bench-targets clean messages

$(VENV)/.installed-runtime: requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), "Python 3.12+ required (pyenv: .python-version)"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: $(VENV)/.installed-runtime
	$(PY) manage.py migrate --noinput

## Set up and start the service on http://127.0.0.1:8000 (SQLite, in-memory layer, demo LLM when no key).
run: migrate
	$(PY) manage.py compilemessages --ignore=.venv >/dev/null 2>&1 || true
	$(PY) manage.py runserver $(HOST):$(PORT)

# The `openai` npm package for the Node client test (pinned by its package-lock.json); without
# npm that one test is skipped.
NODE_DEPS := tests/v1/node/node_modules/.installed
$(NODE_DEPS): tests/v1/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/v1/node --no-audit --no-fund >/dev/null && touch $@; \
	else echo "npm not found: tests/v1/test_node_client.py will be skipped"; fi

## Set up and run the whole test suite (set DATABASE_URL / REDIS_URL to run it on PostgreSQL + Redis).
test: $(VENV)/.installed-dev $(NODE_DEPS)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/bandit -r accounts assistant config conversations usage -q

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Re-extract translatable strings into locale/ja/LC_MESSAGES/django.po (translate the new
## ones), then compile the .mo (commit both). Needs GNU gettext (apt-get install -y gettext).
messages: $(VENV)/.installed-runtime
	$(PY) manage.py makemessages -l ja --ignore=.venv --ignore=tests --ignore=bench \
		--ignore=test-artifacts --ignore=staticfiles --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv

superuser: migrate
	$(PY) manage.py createsuperuser

## Relay benchmark (docs/benchmark.md): 1 process, SQLite. BENCH_ARGS="--matrix" adds
## PostgreSQL + Redis with 1 and 2 processes (127.0.0.1:5432 and :6379). Results: bench/results/.
bench: $(VENV)/.installed-runtime
	$(PY) -m bench $(BENCH_ARGS)

## The relay's targets (docs/benchmark.md): Kaiwa and the floor alternating, 3 pairs at each of
## N = 1, 50, 200, 1 process, SQLite; about 10 minutes on a quiet 2-core machine.
## Results: bench/results/targets-latest.{md,json}.
bench-targets: $(VENV)/.installed-runtime
	$(PY) -m bench --targets $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles
