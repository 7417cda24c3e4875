"""EVM worker wiring: networks from config, the `exact` scheme, the shared worker service."""

from __future__ import annotations

import asyncio

from x402fac.worker import Scheme, run_worker

from .config import NetworkConfig, load_networks
from .exact import ExactEvmScheme

FAMILY = "evm"


def build_schemes(networks: list[NetworkConfig] | None = None) -> list[Scheme]:
    return [ExactEvmScheme(networks if networks is not None else load_networks())]


async def run(nats_url: str | None = None, stop: asyncio.Event | None = None) -> None:
    await run_worker(FAMILY, build_schemes(), nats_url, stop)
