"""Funding on a running Nano devnet, over its RPC like any wallet: sends from genesis, opens/receives with a key.

`faucet(info, address, amount)` sends from the genesis account; the recipient then has a receivable. When the
devnet knows the recipient's key (one of `info["payers"]`) the faucet also receives it, so the balance is
spendable at once. `fund_account(info, secret_key, amount)` does both for any key (tests use it).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from x402fac.nano import (
    StateBlock,
    decode_address,
    encode_address,
    generate_work,
    parse_hash,
    parse_threshold,
    public_key,
)
from x402fac.nano.blocks import ZERO_HASH

# Faucet sends in one process go one at a time (they share genesis' frontier).
_genesis_locks: dict[str, asyncio.Lock] = {}
# Another process may take genesis' frontier between our read and our publish: then read again.
_FRONTIER_RACE_ERRORS = ("Fork", "Gap previous block", "Old block")
_ATTEMPTS = 5


class NanoRpcError(RuntimeError):
    """The node answered {"error": ...}."""


class NanoRpc:
    """A minimal nano_node RPC client (one URL, no failover): enough for the faucet and test helpers."""

    def __init__(self, url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.url = url
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> NanoRpc:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, action: str, **params: Any) -> dict[str, Any]:
        assert self._session is not None, "use NanoRpc as an async context manager"
        async with self._session.post(self.url, json={"action": action, **params}) as response:
            answer = await response.json(content_type=None)
        if "error" in answer:
            raise NanoRpcError(answer["error"])
        return answer

    async def process(self, block: StateBlock, subtype: str) -> str:
        answer = await self.call("process", json_block="true", subtype=subtype, block=block.to_json())
        return answer["hash"]

    async def wait_confirmed(self, block_hash: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while (await self.call("block_info", hash=block_hash))["confirmed"] != "true":
            if time.monotonic() > deadline:
                raise TimeoutError(f"block {block_hash} not confirmed within {timeout}s")
            await asyncio.sleep(0.02)


def _threshold(info: dict[str, Any], kind: str) -> int:
    return parse_threshold(info["workThresholds"][kind])


async def send(rpc: NanoRpc, info: dict[str, Any], secret_key: bytes, destination: bytes, amount: int) -> str:
    """Publishes a send of `amount` raw from the key's account (its current, possibly unconfirmed, frontier)."""
    account = public_key(secret_key)
    state = await rpc.call("account_info", account=encode_address(account), representative="true")
    balance = int(state["balance"])
    if amount <= 0 or amount > balance:
        raise ValueError(f"cannot send {amount} raw from a balance of {balance}")
    previous = parse_hash(state["frontier"])
    block = StateBlock(
        account, previous, decode_address(state["representative"]), balance - amount, destination
    )
    work = await asyncio.to_thread(generate_work, previous, _threshold(info, "send"))
    return await rpc.process(block.signed(secret_key).with_work(work), "send")


async def receive(rpc: NanoRpc, info: dict[str, Any], secret_key: bytes, send_hash: str) -> str:
    """Publishes the open or receive block taking in the send `send_hash`; returns its hash."""
    account = public_key(secret_key)
    sent = await rpc.call("block_info", hash=send_hash)
    amount = int(sent["amount"])
    try:
        state = await rpc.call("account_info", account=encode_address(account), representative="true")
    except NanoRpcError as error:
        if str(error) != "Account not found":
            raise
        previous, balance, representative = ZERO_HASH, 0, decode_address(info["representative"])
    else:
        previous = parse_hash(state["frontier"])
        balance = int(state["balance"])
        representative = decode_address(state["representative"])
    root = previous if previous != ZERO_HASH else account
    block = StateBlock(account, previous, representative, balance + amount, parse_hash(send_hash))
    work = await asyncio.to_thread(generate_work, root, _threshold(info, "receive"))
    subtype = "open" if previous == ZERO_HASH else "receive"
    return await rpc.process(block.signed(secret_key).with_work(work), subtype)


async def faucet(info: dict[str, Any], address: str, amount: int) -> str:
    """Sends `amount` raw from genesis to `address`; returns the send block hash.

    If `address` is one of the devnet's payers, the faucet also receives the funds with the payer's key.
    """
    if amount <= 0:
        raise ValueError("amount must be positive")
    destination = decode_address(address)
    genesis_secret = bytes.fromhex(info["genesis"]["privateKey"])
    lock = _genesis_locks.setdefault(info["genesis"]["account"], asyncio.Lock())
    async with NanoRpc(info["rpcUrl"]) as rpc:
        async with lock:
            send_hash = await _send_retrying(rpc, info, genesis_secret, destination, amount)
        known = {bytes.fromhex(payer["publicKey"]): payer for payer in info.get("payers", [])}
        if destination in known:
            await receive(rpc, info, bytes.fromhex(known[destination]["privateKey"]), send_hash)
    return send_hash


async def fund_account(
    info: dict[str, Any], secret_key: bytes, amount: int, wait_confirmed: bool = True
) -> tuple[str, str]:
    """Sends `amount` raw from genesis to the key's account and receives it (opening the account if new).

    Returns (send hash, receive hash); with `wait_confirmed` the receive is confirmed on return, so the new
    balance is the account's confirmed balance.
    """
    destination = public_key(secret_key)
    genesis_secret = bytes.fromhex(info["genesis"]["privateKey"])
    lock = _genesis_locks.setdefault(info["genesis"]["account"], asyncio.Lock())
    async with NanoRpc(info["rpcUrl"]) as rpc:
        async with lock:
            send_hash = await _send_retrying(rpc, info, genesis_secret, destination, amount)
        receive_hash = await receive(rpc, info, secret_key, send_hash)
        if wait_confirmed:
            await rpc.wait_confirmed(receive_hash)
    return send_hash, receive_hash


async def _send_retrying(
    rpc: NanoRpc, info: dict[str, Any], secret: bytes, destination: bytes, amount: int
) -> str:
    for attempt in range(_ATTEMPTS):
        try:
            return await send(rpc, info, secret, destination, amount)
        except NanoRpcError as error:
            if str(error) not in _FRONTIER_RACE_ERRORS or attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
