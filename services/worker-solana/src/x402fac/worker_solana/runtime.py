"""What the Solana worker keeps per network (client, status watcher, fee payers, read caches), and
how the chain's transaction errors read."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from solders.hash import Hash

from x402fac.worker import NetworkRuntime

from .chain import SolanaClient, StatusWatcher
from .config import SolanaConfig, SolanaNetworkConfig
from .mint import Mint

TOKEN_INSUFFICIENT_FUNDS = {"Custom": 1}  # SPL Token and Token-2022 error 1
TRANSFER_INDEX = 2
CONFIRMED_LEVELS = frozenset({"confirmed", "finalized"})
REMEMBERED_BLOCKHASHES = 100_000


class SolanaRuntime(NetworkRuntime[SolanaNetworkConfig]):
    """One served network: its client, status watcher, fee payers and read caches."""

    worker_defaults = SolanaConfig()

    def open(self) -> None:
        self.client = SolanaClient(self.config.rpc_urls, self.rpc_timeout)
        self.watcher = StatusWatcher(self.client, self.confirm_poll, CONFIRMED_LEVELS)
        self.fee_payers = {str(k.pubkey()): k for k in self.config.fee_payers}
        self.fee_payer_keys = frozenset(k.pubkey() for k in self.config.fee_payers)
        # Mints without a transfer-fee config: what matters of them never changes once initialized.
        self.mints: dict[str, Mint] = {}
        # Blockhash of each transaction this process signed, to tell "late" from "expired".
        self.blockhashes: OrderedDict[str, Hash] = OrderedDict()

    def remember(self, signature: str, blockhash: Hash) -> None:
        self.blockhashes[signature] = blockhash
        while len(self.blockhashes) > REMEMBERED_BLOCKHASHES:
            self.blockhashes.popitem(last=False)

    async def close(self) -> None:
        await self.watcher.close()
        await self.client.close()


def error_text(err: Any) -> str:
    return json.dumps(err, separators=(",", ":"))


def is_insufficient_funds(err: Any) -> bool:
    return isinstance(err, dict) and err.get("InstructionError") == [TRANSFER_INDEX, TOKEN_INSUFFICIENT_FUNDS]
