# x402fac gateway: HTTP on 4020 (/verify, /settle, /health, /metrics); metrics also on 9100.
# Build from the repository root (`make images` stages a clean context):
#   podman build --format docker -f deploy/docker/gateway.Dockerfile -t x402fac-gateway .
# The image runs `x402fac gateway`: it holds the CLI with its `gateway` extra and their
# locked dependencies (`uv export --package x402fac-cli --extra gateway`), nothing else.
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
    /opt/uv/bin/uv export --frozen --no-dev --package x402fac-cli --extra gateway --no-emit-workspace \
        --no-hashes --no-header --no-annotate -o /wheels/requirements.txt \
 && /opt/uv/bin/uv export --frozen --no-dev --package x402fac-cli --extra gateway --only-emit-workspace \
        --no-hashes --no-header --no-annotate | sed -n 's|^-e ||p' > /tmp/workspace.txt \
 && xargs -a /tmp/workspace.txt -I{} /opt/uv/bin/uv build --wheel --quiet -o /wheels/workspace {} \
 && /opt/uv/bin/pip wheel --quiet --cache-dir /root/.cache/pip -w /wheels -r /wheels/requirements.txt
# Offline, with pip resolving the entry point's dependencies: a missing one fails the build, not the
# container's start.
RUN python3 -m venv /opt/x402fac \
 && cli="$(echo /wheels/workspace/x402fac_cli-*.whl)" \
 && /opt/x402fac/bin/pip install --no-cache-dir --no-index --find-links /wheels --find-links /wheels/workspace \
        -r /wheels/requirements.txt "${cli}[gateway]" \
 && /opt/x402fac/bin/pip uninstall --yes --quiet pip

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="x402fac-gateway" \
      org.opencontainers.image.source="https://github.com/x402fac/x402fac"
ENV PATH=/opt/x402fac/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    X402FAC_DATA_DIR=/tmp/x402fac \
    X402FAC_METRICS_PORT=9100
# COPY keys its layer on the copied content, so a source change always yields a new layer (a RUN with a
# bind mount of the build stage would be keyed on its command line only and could be reused stale).
COPY --from=build /opt/x402fac /opt/x402fac
# Any non-root uid works; nothing is written outside /tmp (mount a tmpfs there on a read-only root).
USER 10001:10001
WORKDIR /tmp
EXPOSE 4020 9100
HEALTHCHECK --interval=15s --timeout=10s --start-period=20s --retries=3 CMD ["x402fac", "check", "gateway"]
ENTRYPOINT ["x402fac"]
CMD ["gateway"]
