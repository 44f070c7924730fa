# LeadFlow: `make demo` runs the pipeline on a bundled sample; `make test` runs every check.
# Everything runs as local processes (no Docker engine needed): see leadflow/stack.py.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup up down status reset demo test lint format unit bench bench-quick chaos clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "▸ Creating $(VENV) and installing LeadFlow with pinned dependencies…"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "LeadFlow needs Python 3.11+")'
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP) ## Install the virtualenv and fetch Kafka's jars (once)
	@$(BIN)/python -c "from leadflow.stack import fetch_kafka_jars; fetch_kafka_jars()"

up: setup ## Start Kafka, PostgreSQL, the stand-ins and the four services (returns when all are ready)
	@$(BIN)/leadflow up

down: ## Stop everything `make up` started
	@if [ -x $(BIN)/leadflow ]; then $(BIN)/leadflow down; fi

status: ## Show what answers
	@$(BIN)/leadflow status

reset: ## Stop everything and delete local data
	@$(BIN)/leadflow reset

demo: setup ## Run the pipeline on ~200 sample leads and print who was routed to whom, and why
	@$(BIN)/leadflow demo

lint: $(STAMP) ## ruff (lint + format check) and mypy
	@echo "▸ ruff"
	@$(BIN)/ruff check shared services leadflow bench chaos tests
	@$(BIN)/ruff format --check --quiet shared services leadflow bench chaos tests
	@echo "▸ mypy"
	@$(BIN)/mypy

format: $(STAMP) ## Apply ruff's fixes and formatting
	@$(BIN)/ruff check --fix --quiet shared services leadflow bench chaos tests || true
	@$(BIN)/ruff format --quiet shared services leadflow bench chaos tests

unit: $(STAMP) ## Only the tests that need no running stack
	@$(BIN)/pytest -m "not integration"

test: setup lint ## Lint, then every test against a real Kafka + PostgreSQL test stack (started and stopped here)
	@echo "▸ pytest (the test stack uses its own ports and data: a running demo is not touched)"
	@$(BIN)/pytest

bench: setup ## Measure throughput and latency on this machine (never part of make test); BENCH_ARGS=--quick
	@$(BIN)/leadflow bench $(BENCH_ARGS)

bench-quick: setup ## A one-to-two-minute bench to run before and after a change
	@$(BIN)/leadflow bench --quick $(BENCH_ARGS)

chaos: setup ## Faults under load (kill -9, broker and database restarts, Slack/SMTP outages) with counted results
	@$(BIN)/leadflow chaos $(CHAOS_ARGS)

clean: down ## Remove the virtualenv and caches (keeps downloaded jars)
	@rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
