# Two commands on a fresh machine: `make run` (the end-to-end demo) and `make test`.
SHELL := /bin/bash
PY    := .venv/bin/python
UV    := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
ARCH  ?= arm64

.PHONY: setup run serve test lint emulator events build validate clean

# Create or refresh .venv from the lock file, every time: a no-op sync takes a fraction of a
# second, and a stamp file would miss a venv someone changed by hand (e.g. `uv sync --extra X`
# removes the other extras). The upstream plugin's wheel ships a legacy setuptools "nspkg.pth"
# that imports the empty `flytekitplugins` namespace into *every* interpreter; Python 3.3+ finds
# the namespace without it, and removing it keeps the Lambda-path import check honest.
setup:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --all-extras
	@rm -f .venv/lib/python*/site-packages/*-nspkg.pth

run: setup  ## the main job: a real Flyte task through the Lambda app against a local OpCenter
	$(PY) -m demo

serve: setup  ## make run, then keep the stack up (printing curl lines for it) until Ctrl-C
	$(PY) -m demo --serve

test: setup  ## unit + end-to-end tests over loopback (emulator, moto server, uvicorn)
	$(PY) -m pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check connector handler emulator
	.venv/bin/mypy

emulator: setup  ## a local OpCenter on http://127.0.0.1:8900 (admin / emulator)
	$(PY) -m emulator

events: setup  ## regenerate infra/events/*.json with `sam local generate-event`
	$(PY) infra/events/generate.py

# The Lambda artifact (.aws-sam/build), for `sam deploy --guided`: only connector/ + handler/ and
# their runtime wheels for ARCH, bytecode for python3.12; prints its size. Needs no .venv.
build:  ## make build [ARCH=x86_64]
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	UV="$(UV)" python3 infra/build.py --arch $(ARCH)

# Two checkers that catch different mistakes: cfn-lint (CloudFormation) and `sam validate` (the
# SAM translator: needs a region, no credentials, and no AWS_PROFILE naming a missing profile).
validate: setup
	.venv/bin/cfn-lint template.yaml
	env -u AWS_PROFILE UV="$(UV)" $(PY) infra/sam.py validate --region us-east-1 -t template.yaml

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache .run build .aws-sam
