# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean system-deps kernels fuzz schemas

# The teaching and plan reports are tested in a real headless Chromium (Debian's package; the
# tests drive it with Playwright). Installed here so that `make test` needs nothing beforehand.
CHROMIUM ?= /usr/bin/chromium

# Python writes each module's bytecode (__pycache__) the first time it imports it, so that every
# later process reads it instead of compiling the source again. Some machines set
# PYTHONDONTWRITEBYTECODE=1; there every `pumpsim` started by the tests compiled pumpsim and its
# libraries afresh (measured: 3.3 s of a 5.7 s `forecast --runs 400`). An empty value turns it off.
export PYTHONDONTWRITEBYTECODE :=

# uv installs the same packages as pip (the same resolver inputs: PyPI, pyproject.toml) in about
# a quarter of the time, downloading in parallel. The virtual environment is made without pip
# (ensurepip alone took 9 s) and the machine's pip puts uv into it; if uv cannot be had, pip is
# bootstrapped into the environment and installs instead. Bytecode is not compiled ahead for every
# installed file: the imports write what they use (above).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv --without-pip $(VENV)
	( $(PYTHON) -m pip --python $(BIN)/python install --quiet uv \
		&& $(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[test]' ) \
		|| ( $(BIN)/python -m ensurepip --upgrade --default-pip \
		&& $(BIN)/python -m pip install --quiet --upgrade pip \
		&& $(BIN)/python -m pip install --quiet -e '.[test]' )
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pumpsim check profiles/patients/morphine-cancer-pain.yaml
	$(BIN)/pumpsim forecast profiles/patients/morphine-cancer-pain.yaml --as-of state --runs 10000 --seed 7

$(CHROMIUM):
	@if command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends -o Dpkg::Options::=--force-unsafe-io chromium >/dev/null; \
	else \
		echo "error: $(CHROMIUM) is missing and apt-get is not available to install it" >&2; exit 1; \
	fi

system-deps: $(CHROMIUM)

# numba compiles the kernels into its cache (tests/warm_kernels.py, two processes) while apt
# installs chromium (one core); pytest's own warm-up (tests/conftest.py) then only loads them.
kernels: $(STAMP)
	$(BIN)/python tests/warm_kernels.py

test:
	@$(MAKE) --no-print-directory -j2 system-deps kernels
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff format --check pumpsim tests benchmarks
	$(BIN)/ruff check pumpsim tests benchmarks
	$(BIN)/mypy pumpsim

# The JSON Schemas of every document pumpsim writes (docs/schemas/*.json), from the models;
# tests/cli/test_schemas.py fails when the published ones are stale.
schemas: $(STAMP)
	$(BIN)/python -m pumpsim.cli.schemas docs/schemas

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info

# The full fuzz campaign (docs/fuzzing.md): >= 10,000 mutated profiles, >= 1,000 rosters, press
# logs and refill sheets through the library and the CLI; prints the counts of each outcome.
FUZZ_ARGS ?= --profiles 10000 --rosters 1000 --press-logs 500 --refill-sheets 500 --workers 2
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz/campaign.py $(FUZZ_ARGS)
