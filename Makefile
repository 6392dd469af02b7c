# Two commands on a fresh machine with Python 3.11 and make: `make demo`, `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint format bench clean

# Create the virtualenv when missing and install the project (editable, with dev extras).
# A no-op while pyproject.toml is unchanged.
install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/dsar demo $(DEMO_ARGS)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .dsar .pytest_cache .mypy_cache .ruff_cache *.egg-info

# The production topology on loopback (PostgreSQL, Prefect server, two workers, intake):
# fifty requests, one worker killed mid-run; ends with "topology: N/N requests completed
# exactly once". Needs PostgreSQL's server binaries (apt-get install postgresql).
.PHONY: topology
topology: install
	DSAR_TOPOLOGY_REQUIRED=1 $(BIN)/python -m pytest -q tests/topology -m topology -s
