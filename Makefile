# feedbackloop — the two commands of the README's Quick start are `make up` and `make test`.
# Both install what they need on a fresh machine: Debian packages (Java, Maven, PostgreSQL,
# Prometheus for promtool, which checks and unit-tests deploy/prometheus/, a Chinese font for
# `feedbackloop report --png/--pdf`, Chromium for the browser tests driven by Playwright,
# docker-compose, whose `config` checks deploy/compose.yaml without a Docker engine), the
# virtual environment at .venv, and the Kafka broker's jars (resolved by Maven into ~/.m2).

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# PostgreSQL's server is checked by path: Debian keeps initdb off PATH.
DEBIAN_DEPS := java=openjdk-17-jre-headless mvn=maven '/usr/lib/postgresql/*/bin/initdb=postgresql' \
	promtool=prometheus '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc=fonts-wqy-microhei' \
	docker-compose=docker-compose chromium=chromium

.PHONY: up demo test lint unit integration bench deps debian kafka-jars router-model clean

# Checked on every run (quick when all are there), so a checkout that gains a package gets it.
debian:
	scripts/ensure-debian-packages.sh $(DEBIAN_DEPS)

$(STAMP): pyproject.toml | debian
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

deps: debian $(STAMP) kafka-jars router-model

kafka-jars: $(STAMP)
	$(BIN)/feedbackloop kafka resolve

# The category model is trained from ../shared/data, never committed (about 25 s here).
router-model: $(STAMP)
	$(BIN)/feedbackloop router train --if-missing

up: deps
	$(BIN)/feedbackloop up

demo: deps
	$(BIN)/feedbackloop up --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

integration: deps
	$(BIN)/pytest -m integration

test: deps lint
	$(BIN)/pytest

# Item counts of `make bench`, each a variable (`make bench BENCH_PG_ITEMS=66000`). The
# 66,000-item day is most of a run at today's speeds (about 25 minutes on 2 cores), so the
# PostgreSQL day is a tenth of a day until the loop is faster. Each benchmark also has a
# --quick trial (`python -m bench.e2e --quick`) whose results stay out of docs/benchmarks.md.
BENCH_DAY_ITEMS ?= 66000
BENCH_PG_ITEMS ?= 6600
BENCH_RATE ?= 500
BENCH_RATE_SECONDS ?= 60
BENCH_INTAKE_ITEMS ?= 5000
BENCH_HOTLINE_CALLS ?= 20000
BENCH_CONSUMER_ITEMS ?= 5000
BENCH_ROUTER_ITEMS ?= 30000

bench: deps
	$(BIN)/python -m bench.intake --items $(BENCH_INTAKE_ITEMS) --calls $(BENCH_HOTLINE_CALLS)
	$(BIN)/python -m bench.router --items $(BENCH_ROUTER_ITEMS)
	$(BIN)/python -m bench.consumers --items $(BENCH_CONSUMER_ITEMS)
	$(BIN)/python -m bench.e2e --rate $(BENCH_RATE) --duration $(BENCH_RATE_SECONDS)
	$(BIN)/python -m bench.e2e --items $(BENCH_DAY_ITEMS)
	$(BIN)/python -m bench.e2e --items $(BENCH_PG_ITEMS) --postgres
	$(BIN)/python -m bench.surges --trials 20
	$(BIN)/python -m bench.report

clean:
	rm -rf .var artifacts .pytest_cache .mypy_cache .ruff_cache
