"""NATS connection with reconnects that never give up (services outlive NATS restarts)."""

import logging

import nats
from nats.aio.client import Client

from x402fac.telemetry.settings import ServiceSettings, load

log = logging.getLogger(__name__)


def nats_url() -> str:
    """X402FAC_NATS_URL: one URL or a comma list of a cluster's."""
    return load(ServiceSettings).nats_url


async def connect(url: str | None = None, name: str = "x402fac") -> Client:
    async def on_disconnect() -> None:
        log.warning("NATS disconnected")

    async def on_reconnect() -> None:
        log.info("NATS reconnected")

    async def on_error(exc: Exception) -> None:
        log.warning("NATS error: %s", exc)

    return await nats.connect(
        servers=(url or nats_url()).split(","),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        connect_timeout=5,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )
