"""Nano worker wiring: networks from config, the `exact` scheme, the shared worker service."""

from __future__ import annotations

import asyncio

from x402fac.worker import Scheme, run_worker

from .config import NanoConfig, load_config
from .exact import ExactNanoScheme

FAMILY = "nano"


def build_schemes(config: NanoConfig | None = None) -> list[Scheme]:
    return [ExactNanoScheme.from_config(config or load_config())]


async def run(nats_url: str | None = None, stop: asyncio.Event | None = None) -> None:
    await run_worker(FAMILY, build_schemes(), nats_url, stop)
