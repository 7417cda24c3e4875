"""Solana devnet: a JSON-RPC server over LiteSVM that answers as Solana devnet.

Emulates: the devnet genesis hash (network `solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1`), the real SPL
Token, Token-2022, Associated Token Account, Memo and Address Lookup Table programs with real
signature checks, a USDC mint (6 decimals) at the devnet USDC address, slots every 400 ms each with a
new blockhash valid for 150 slots, base + priority fees, preflight simulation, signature statuses
that move processed -> confirmed -> finalized after configurable delays, transaction history, and
agave's JSON shapes and error objects for the methods in `rpc.py`.

Does not emulate: consensus, forks or skipped slots (block height == slot), commitment-specific
account reads (every read sees the latest state), durable-nonce transactions, websocket
subscriptions, `base64+zstd`, program deployment helpers, rent collection.
"""

from .chain import Chain, TransactionError
from .devnet import INFO_FILE, NETWORK, USDC_DECIMALS, USDC_MINT, SolanaDevnet, faucet, faucet_transaction
from .rpc import DEVNET_GENESIS_HASH, SolanaRpc

__all__ = [
    "DEVNET_GENESIS_HASH",
    "INFO_FILE",
    "NETWORK",
    "USDC_DECIMALS",
    "USDC_MINT",
    "Chain",
    "SolanaDevnet",
    "SolanaRpc",
    "TransactionError",
    "faucet",
    "faucet_transaction",
]
