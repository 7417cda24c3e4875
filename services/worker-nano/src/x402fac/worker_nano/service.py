"""Nano worker wiring: networks from config, the `exact` scheme, the shared worker service."""

from __future__ import annotations

import asyncio

from x402fac.worker import Scheme, run_worker

from .config import NanoConfig, load_config
from .exact import ExactNanoScheme

FAMILY = "nano"


def build_schemes(config: NanoConfig | None = None) -> list[Scheme]:
    config = config or load_config()
    return [
        ExactNanoScheme(
            list(config.networks), rpc_timeout=config.rpc_timeout, confirm_poll=config.confirm_poll
        )
    ]


async def run(nats_url: str | None = None, stop: asyncio.Event | None = None) -> None:
    await run_worker(FAMILY, build_schemes(), nats_url, stop)
