#!/usr/bin/env bash
# Build the x402fac images with podman: a local Debian bookworm base (mmdebstrap, no registry needed),
# then one image per service from a clean copy of the tracked sources.
#   deploy/docker/build.sh [service ...]     (default: every service)
# Env: CA_BUNDLE (default the host's), TAG (default 0.1.0), PREFIX (default localhost/x402fac-), BASE_IMAGE (default: the local base,
# built when missing), DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/docker/containers.conf}"
TAG="${TAG:-0.1.0}"
PREFIX="${PREFIX:-localhost/x402fac-}"
LOCAL_BASE="localhost/x402fac-base:bookworm"
BASE_IMAGE="${BASE_IMAGE:-$LOCAL_BASE}"
SERVICES=("$@")
[ ${#SERVICES[@]} -gt 0 ] || SERVICES=(nats gateway ledger worker-nano worker-evm worker-solana)

if [ "$BASE_IMAGE" = "$LOCAL_BASE" ] && ! podman image exists "$LOCAL_BASE"; then
    echo "building $LOCAL_BASE with mmdebstrap (Debian bookworm, python3 3.11)"
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm - "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
        | podman import --change 'CMD ["python3"]' - "$LOCAL_BASE"
fi

# The build context: tracked and new (not ignored) files only, no .venv, node_modules or data dirs.
CONTEXT="$(mktemp -d)"
trap 'rm -rf "$CONTEXT"' EXIT
git ls-files -z --cached --others --exclude-standard \
    | grep -zv -e '^bench/' -e '^tests/' -e '^docs/' -e '^k8s/' \
    | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' \
    | tar --null -T - -cf - | tar -xf - -C "$CONTEXT"

# The build stage downloads from PyPI: it trusts the host's CA bundle (TLS-intercepting proxies).
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
BUILD_OPTS=()
[ -f "$CA_BUNDLE" ] && BUILD_OPTS+=(--volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro")

for service in "${SERVICES[@]}"; do
    echo "building $PREFIX$service:$TAG"
    podman build --quiet --format docker --build-arg "BASE_IMAGE=$BASE_IMAGE" "${BUILD_OPTS[@]}" \
        -f "deploy/docker/$service.Dockerfile" -t "$PREFIX$service:$TAG" "$CONTEXT" >/dev/null
    podman image inspect --format "{{.Size}}" "$PREFIX$service:$TAG" \
        | awk -v name="$PREFIX$service:$TAG" '{printf "  %s  %.0f MB\n", name, $1 / 1e6}'
done
