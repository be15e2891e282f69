# Paved Road — the commands a newcomer needs. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 3000

.PHONY: install sandbox test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sandbox]'
	touch $@

## Install everything and start the bot with its Slack, PagerDuty and ServiceNow emulators on http://127.0.0.1:$(PORT)
sandbox: install
	$(BIN)/pavedroad sandbox --port $(PORT)

## Install everything and run the tests
test: install
	$(BIN)/python -m pytest

## Type-check (the product and its tests) and lint
lint: install
	$(BIN)/mypy
	$(BIN)/ruff check bot commands sandbox tests bench

## Benchmarks (not part of the tests): print JSON
bench: install
	$(BIN)/python bench/webhook_intake.py --requests 4000 --rounds 3
	$(BIN)/python bench/webhook_intake.py --store postgres --requests 4000 --rounds 3
	$(BIN)/python bench/trigger_to_card.py --incidents 100 --latency-ms 50
	$(BIN)/python bench/command_ack.py --commands 2000 --rounds 3
	$(BIN)/python bench/report.py --incidents 20000 --rounds 3
	$(BIN)/python bench/soak.py --incidents 500
	$(BIN)/python bench/storm.py --incidents 100 --tier-scale 10
	$(BIN)/python bench/due_effects.py --pending 65000
	$(BIN)/python bench/replica_storm.py --incidents 200 --replicas 2 --rate-scale 10

clean:
	rm -rf $(VENV) *.db *.db-wal *.db-shm
