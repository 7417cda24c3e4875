"""Funds an address on a running EVM devnet: USDC minted by the devnet's minter, plus ETH for gas (EOAs only)."""

from __future__ import annotations

import asyncio
from typing import Any

from x402fac.devnet.evm.rpc import DevnetRpc, calldata

GAS_TOPUP_THRESHOLD = 10**16  # 0.01 ETH
GAS_TOPUP = 10**17  # 0.1 ETH

# The minter sends transactions one nonce at a time; concurrent faucet calls in a process queue here.
_minter_locks: dict[str, asyncio.Lock] = {}


async def faucet(info: dict[str, Any], address: str, amount: int) -> str:
    """Mints `amount` USDC atomic units (6 decimals) to `address`; returns the mined mint tx hash."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    minter = info["minter"]
    token = info["usdc"]["address"]
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
