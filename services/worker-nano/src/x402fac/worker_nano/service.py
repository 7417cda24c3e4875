"""Wiring: configuration -> the `exact` scheme -> the shared worker service on NATS."""

from __future__ import annotations

import asyncio
import logging

from x402fac.worker import Scheme, run_worker

from .config import NanoConfig, load_config
from .exact import ExactNanoScheme

FAMILY = "nano"
log = logging.getLogger(__name__)


def build_schemes(config: NanoConfig | None = None) -> list[Scheme]:
    config = config or load_config()
    if not config.networks:
        log.warning("no Nano network configured (X402FAC_NANO_<NET>_RPC_URLS) and no devnet-nano.json found")
    return [ExactNanoScheme(list(config.networks), config.rpc_timeout, config.confirm_poll)]


async def run(nats_url: str | None = None, stop: asyncio.Event | None = None) -> None:
    await run_worker(FAMILY, build_schemes(), nats_url, stop)
