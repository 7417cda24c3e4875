# x402fac — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
UV := $(PYTHON) -m uv
DEVNET_DIR := deploy/devnet
STAMP := .venv/.x402fac-installed

.PHONY: install run test test-fast lint bench clean

# uv comes from pip when missing; everything else from the lock files.
$(STAMP): uv.lock pyproject.toml $(wildcard $(DEVNET_DIR)/package-lock.json)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@if [ -f $(DEVNET_DIR)/package-lock.json ]; then cd $(DEVNET_DIR) && npm ci --no-audit --no-fund --loglevel=error; fi
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(UV) run --frozen x402fac run

test: install
	$(UV) run --frozen pytest -q

test-fast: install
	$(UV) run --frozen pytest -q tests/unit

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

bench: install
	$(UV) run --frozen python -m bench

clean:
	rm -rf .venv .x402fac $(DEVNET_DIR)/node_modules
