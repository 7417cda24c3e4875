"""Funds an address on a running EVM devnet: a devnet token minted by the devnet's minter (USDC unless
another is named), plus ETH for gas (EOAs only); and a payer's ERC-20 approval, for Permit2."""

from __future__ import annotations

import asyncio
from typing import Any

from x402fac.devnet.evm.rpc import DevnetRpc, calldata

GAS_TOPUP_THRESHOLD = 10**16  # 0.01 ETH
GAS_TOPUP = 10**17  # 0.1 ETH
MAX_UINT256 = 2**256 - 1

# The minter sends transactions one nonce at a time; concurrent faucet calls in a process queue here.
_minter_locks: dict[str, asyncio.Lock] = {}


def minted_tokens(info: dict[str, Any]) -> set[str]:
    """Addresses (lower case) of the tokens the devnet's minter can mint."""
    return {info["usdc"]["address"].lower()} | {t["address"].lower() for t in info.get("tokens", {}).values()}


async def faucet(info: dict[str, Any], address: str, amount: int, token: str | None = None) -> str:
    """Mints `amount` atomic units of `token` (default: USDC) to `address`; returns the mined mint tx hash."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    token = token or info["usdc"]["address"]
    if token.lower() not in minted_tokens(info):
        raise ValueError(f"{token} is not a devnet token")
    minter = info["minter"]
    lock = _minter_locks.setdefault(minter["address"], asyncio.Lock())
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        async with lock:
            sends = []
            # Contracts (e.g. smart wallets) pay no gas and may refuse plain ETH.
            has_code = await rpc.call("eth_getCode", address, "latest") not in ("0x", "0x0")
            if not has_code and await rpc.balance(address) < GAS_TOPUP_THRESHOLD:
                sends.append(await rpc.send(minter["privateKey"], address, value=GAS_TOPUP))
            data = calldata("mint(address,uint256)", ["address", "uint256"], [address, amount])
            sends.append(await rpc.send(minter["privateKey"], token, data))
        await asyncio.gather(*(rpc.wait_receipt(tx_hash) for tx_hash in sends))
    return sends[-1]


async def approve(
    info: dict[str, Any], private_key: str, token: str, spender: str | None = None, amount: int = MAX_UINT256
) -> str:
    """The key's owner approves `spender` (default: Permit2) for `amount` of `token`; returns the mined tx hash.
    The owner pays the gas (an EOA with ETH, as the faucet leaves it)."""
    spender = spender or info["permit2"]["address"]
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        data = calldata("approve(address,uint256)", ["address", "uint256"], [spender, amount])
        tx_hash = await rpc.send(private_key, token, data)
        await rpc.wait_receipt(tx_hash)
    return tx_hash
