"""EVM worker wiring: networks from config, the `exact` and `upto` schemes, the shared worker service."""

from __future__ import annotations

import asyncio

from x402fac.worker import Scheme, run_worker

from .config import EvmConfig, load_config
from .exact import ExactEvmScheme
from .upto import UptoEvmScheme

FAMILY = "evm"


def build_schemes(config: EvmConfig | None = None) -> list[Scheme]:
    exact = ExactEvmScheme.from_config(config or load_config())
    upto = UptoEvmScheme(exact)  # the same networks, signers and nonces
    return [exact, upto] if upto.networks() else [exact]


async def run(nats_url: str | None = None, stop: asyncio.Event | None = None) -> None:
    await run_worker(FAMILY, build_schemes(), nats_url, stop)
