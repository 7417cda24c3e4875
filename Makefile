# x402fac — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
UV := $(PYTHON) -m uv
DEVNET_DIR := deploy/devnet
STAMP := .venv/.x402fac-installed

.PHONY: install run test test-cluster test-fast lint bench clean tools tools-images images test-images

# Debian tools some checks need: apt-get installs the missing ones when run as root (as CI does);
# otherwise the tests that need them are skipped with the reason (and fail under CI=true).
define debian_tools
	@missing=""; for tool in $(2); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then echo "installing$$missing (apt-get: $(1))"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
	else echo "missing$$missing: run 'sudo apt-get install $(1)' (tests that need them are skipped)"; fi
endef

# uv comes from pip when missing; everything else from the lock files.
$(STAMP): uv.lock pyproject.toml $(wildcard $(DEVNET_DIR)/package-lock.json)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@if [ -f $(DEVNET_DIR)/package-lock.json ]; then cd $(DEVNET_DIR) && npm ci --no-audit --no-fund --loglevel=error; fi
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(UV) run --frozen x402fac run

test: install tools
	$(UV) run --frozen pytest -q --ignore=tests/cluster

# A deployment as separate processes (3-node NATS cluster, 2 of every service) under SIGKILL, rolling
# restarts and load: about 10 minutes on 2 cores, so not part of `make test` (.ci/run runs both).
test-cluster: install
	$(UV) run --frozen pytest -q tests/cluster

# Prometheus and promtool (alert rule tests, the Prometheus-backed dashboard test).
tools:
	$(call debian_tools,prometheus chromium,prometheus promtool chromium)

# podman (runc runtime) and mmdebstrap: the images and their test.
tools-images:
	$(call debian_tools,podman runc mmdebstrap,podman runc mmdebstrap)

# The service images (deploy/docker), from a local Debian bookworm base; no registry needed.
images: install tools-images
	deploy/docker/build.sh

# Builds every image from nothing, smoke-tests each, runs the stack from them, then plays the Helm
# chart's manifests with `podman kube play` (the closest this machine gets to a cluster): minutes, so
# not part of `make test`.
test-images: install tools-images
	X402FAC_TEST_IMAGES=1 $(UV) run --frozen pytest -q -s tests/ops/test_images.py tests/ops/test_kube_play.py

test-fast: install
	$(UV) run --frozen pytest -q tests/unit

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

bench: install
	$(UV) run --frozen python -m bench

clean:
	rm -rf .venv .x402fac $(DEVNET_DIR)/node_modules
