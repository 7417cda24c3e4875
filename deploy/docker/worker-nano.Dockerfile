# x402fac worker-nano: metrics on 9100; talks to NATS and its Nano RPC nodes.
# Build from the repository root (`make images` stages a clean context):
#   podman build --format docker -f deploy/docker/worker-nano.Dockerfile -t x402fac-worker-nano .
# Only x402fac-worker-nano and its dependencies are installed: `uv export --package x402fac-worker-nano` names
# them, the build stage turns them into a wheelhouse, the final stage installs it offline.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.9
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache \
    /opt/uv/bin/uv export --frozen --no-dev --package x402fac-worker-nano --no-emit-workspace \
        --no-hashes --no-header --no-annotate -o /wheels/requirements.txt \
 && /opt/uv/bin/uv export --frozen --no-dev --package x402fac-worker-nano --only-emit-workspace \
        --no-hashes --no-header --no-annotate | sed -n 's|^-e ||p' > /tmp/workspace.txt \
 && xargs -a /tmp/workspace.txt -I{} /opt/uv/bin/uv build --wheel --quiet -o /wheels/workspace {} \
 && /opt/uv/bin/uv build --wheel --quiet -o /wheels/workspace services/cli \
 && /opt/uv/bin/pip wheel --quiet --cache-dir /root/.cache/pip -w /wheels -r /wheels/requirements.txt

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="x402fac-worker-nano" \
      org.opencontainers.image.source="https://github.com/x402fac/x402fac"
ENV PATH=/opt/x402fac/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    X402FAC_DATA_DIR=/tmp/x402fac \
    X402FAC_METRICS_PORT=9100
# Offline: every wheel comes from the build stage. The CLI wheel (the entry point) goes in without its
# dependencies: it imports a service's package only when that service is started.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/x402fac \
 && /opt/x402fac/bin/pip install --no-cache-dir --no-index --find-links /wheels -r /wheels/requirements.txt \
 && /opt/x402fac/bin/pip install --no-cache-dir --no-index --no-deps /wheels/workspace/*.whl \
 && /opt/x402fac/bin/pip uninstall --yes --quiet pip
# Any non-root uid works; nothing is written outside /tmp (mount a tmpfs there on a read-only root).
USER 10001:10001
WORKDIR /tmp
EXPOSE 9100
HEALTHCHECK --interval=15s --timeout=10s --start-period=20s --retries=3 CMD ["x402fac", "check", "worker-nano"]
ENTRYPOINT ["x402fac"]
CMD ["worker", "nano"]
