# Two commands do everything: `make run` and `make test`. Both create .venv and
# install what is missing first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed" if sys.version_info < (3, 11) else 0)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/callback-platform db upgrade
	$(BIN)/callback-platform demo seed
	$(BIN)/callback-platform serve --host $(HOST) --port $(PORT)

# On every core (at most 4), then the tests judged by the wall clock alone (tests/conftest.py, SERIAL).
test: install
	$(BIN)/python -m pytest -n auto --maxprocesses 4 -m "not serial"
	$(BIN)/python -m pytest -m serial

# The benchmark suite (bench/README.md): loopback only, stops by itself, about six
# minutes; `make bench BENCH_ARGS=--quick` for a two-minute smoke run. PostgreSQL
# too (six more) when BENCH_DATABASE_URL is set: that database is emptied. Its Flask
# peer needs the `bench` extras (Flask, gunicorn), installed here when missing.
bench: install
	$(BIN)/python -c 'import flask, gunicorn' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) callback.db callback.db-wal callback.db-shm .pytest_cache
