"""Wiring: configuration -> the `exact` scheme -> the shared worker service on NATS."""

from __future__ import annotations

import asyncio
import logging

from x402fac.worker import Scheme, run_worker

from .config import SolanaConfig, load_config
from .exact import ExactSolanaScheme

FAMILY = "solana"
log = logging.getLogger(__name__)


def build_schemes(config: SolanaConfig | None = None) -> list[Scheme]:
    config = config or load_config()
    if not config.networks:
        log.warning(
            "no Solana network configured (X402FAC_SOLANA_<NET>_RPC_URLS) and no devnet-solana.json found"
        )
    return [
        ExactSolanaScheme(
            list(config.networks),
            rpc_timeout=config.rpc_timeout,
            confirm_poll=config.confirm_poll,
        )
    ]


async def run(nats_url: str | None = None, stop: asyncio.Event | None = None) -> None:
    await run_worker(FAMILY, build_schemes(), nats_url, stop)
