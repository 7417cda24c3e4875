"""Nano devnet: a single in-memory node answering nano_node's RPC (default port 7076, the real node's).

Emulates: state blocks only; the node's validation (signature, proof of work against configurable thresholds,
frontier fork/gap, send/receive/open/change balance rules, receivables) with its exact error strings; the RPC
actions account_info, account_balance, account_representative, block_info, blocks_info, block_account,
block_count, block_confirm, process (json_block, subtype, async), receivable / pending, work_validate,
work_generate, version, in the node's response shapes; confirmation (cementing) a fixed delay after a block is
processed (default 0.3 s), a receive's source first.
Does not emulate: legacy blocks, epochs, voting, elections and fork resolution (the first block on a root
wins; a second is refused as "Fork"), bootstrapping, wallets, websockets, persistence (each start is a new
ledger), pruning.

Devnet-only actions: `devnet_hold_confirmations` / `devnet_release_confirmations` {account} keep an account's
new blocks unconfirmed until released (tests use them for "frontier unconfirmed" and late confirmation).

At start it generates a genesis key holding the whole supply (2^128-1 raw) and `--payers` funded, opened
accounts, and writes them with the RPC URL and work thresholds to `DATA_DIR/devnet-nano.json`.
"""

from x402fac.devnet.nano.faucet import connect, faucet, fund_account, receive, send, work_for
from x402fac.devnet.nano.ledger import Ledger, ProcessError
from x402fac.devnet.nano.server import (
    DEFAULT_CONFIRMATION_DELAY,
    DEFAULT_PORT,
    DEFAULT_RECEIVE_THRESHOLD,
    DEFAULT_SEND_THRESHOLD,
    INFO_FILE,
    NETWORK,
    NanoDevnet,
)

__all__ = [
    "DEFAULT_CONFIRMATION_DELAY",
    "DEFAULT_PORT",
    "DEFAULT_RECEIVE_THRESHOLD",
    "DEFAULT_SEND_THRESHOLD",
    "INFO_FILE",
    "NETWORK",
    "Ledger",
    "NanoDevnet",
    "ProcessError",
    "connect",
    "faucet",
    "fund_account",
    "receive",
    "send",
    "work_for",
]
