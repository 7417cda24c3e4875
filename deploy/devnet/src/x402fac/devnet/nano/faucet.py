"""Funding on a running Nano devnet, over its RPC like any wallet: sends from genesis, opens/receives with a key.

`faucet(info, address, amount)` sends from the genesis account; the recipient then has a receivable. When the
devnet knows the recipient's key (one of `info["payers"]`) the faucet also receives it, so the balance is
spendable at once. `fund_account(info, secret_key, amount)` does both for any key (tests use it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

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
from x402fac.nano.node import ACCOUNT_NOT_FOUND, BLOCK_NOT_FOUND, NanoNode, NodeError
from x402fac.rpc import FailoverHttp

# Faucet sends in one process go one at a time (they share genesis' frontier).
_genesis_locks: dict[str, asyncio.Lock] = {}
# Another process may take genesis' frontier between our read and our publish: then read again.
_FRONTIER_RACE_ERRORS = ("Fork", "Gap previous block", "Old block")
_ATTEMPTS = 5


@contextlib.asynccontextmanager
async def connect(url: str, timeout: float = 30.0) -> AsyncIterator[NanoNode]:
    """A NanoNode on the devnet's RPC URL, closed on exit."""
    node = NanoNode(FailoverHttp([url], timeout))
    try:
        yield node
    finally:
        await node.close()


async def work_for(info: dict[str, Any], kind: str, root: bytes) -> int:
    """Work on `root` meeting the devnet's `kind` ("send" or "receive") threshold, made off the event loop."""
    return await asyncio.to_thread(generate_work, root, parse_threshold(info["workThresholds"][kind]))


async def send(
    node: NanoNode, info: dict[str, Any], secret_key: bytes, destination: bytes, amount: int
) -> str:
    """Publishes a send of `amount` raw from the key's account (its current, possibly unconfirmed, frontier)."""
    account = public_key(secret_key)
    state = await node.account_info(encode_address(account))
    if state is None:
        raise NodeError("account_info", ACCOUNT_NOT_FOUND)
    balance = int(state["balance"])
    if amount <= 0 or amount > balance:
        raise ValueError(f"cannot send {amount} raw from a balance of {balance}")
    previous = parse_hash(state["frontier"])
    block = StateBlock(
        account, previous, decode_address(state["representative"]), balance - amount, destination
    )
    work = await work_for(info, "send", previous)
    return await node.process(block.signed(secret_key).with_work(work), "send")


async def receive(node: NanoNode, info: dict[str, Any], secret_key: bytes, send_hash: str) -> str:
    """Publishes the open or receive block taking in the send `send_hash`; returns its hash."""
    account = public_key(secret_key)
    sent = await node.block_info(send_hash)
    if sent is None:
        raise NodeError("block_info", BLOCK_NOT_FOUND)
    amount = int(sent["amount"])
    state = await node.account_info(encode_address(account))
    if state is None:
        previous, balance, representative = ZERO_HASH, 0, decode_address(info["representative"])
    else:
        previous = parse_hash(state["frontier"])
        balance = int(state["balance"])
        representative = decode_address(state["representative"])
    root = previous if previous != ZERO_HASH else account
    block = StateBlock(account, previous, representative, balance + amount, parse_hash(send_hash))
    work = await work_for(info, "receive", root)
    subtype = "open" if previous == ZERO_HASH else "receive"
    return await node.process(block.signed(secret_key).with_work(work), subtype)


async def faucet(info: dict[str, Any], address: str, amount: int) -> str:
    """Sends `amount` raw from genesis to `address`; returns the send block hash.

    If `address` is one of the devnet's payers, the faucet also receives the funds with the payer's key.
    """
    if amount <= 0:
        raise ValueError("amount must be positive")
    destination = decode_address(address)
    async with connect(info["rpcUrl"]) as node:
        send_hash = await _send_from_genesis(node, info, destination, amount)
        known = {bytes.fromhex(payer["publicKey"]): payer for payer in info.get("payers", [])}
        if destination in known:
            await receive(node, info, bytes.fromhex(known[destination]["privateKey"]), send_hash)
    return send_hash


async def fund_account(
    info: dict[str, Any], secret_key: bytes, amount: int, wait_confirmed: bool = True
) -> tuple[str, str]:
    """Sends `amount` raw from genesis to the key's account and receives it (opening the account if new).

    Returns (send hash, receive hash); with `wait_confirmed` the receive is confirmed on return, so the new
    balance is the account's confirmed balance.
    """
    destination = public_key(secret_key)
    async with connect(info["rpcUrl"]) as node:
        send_hash = await _send_from_genesis(node, info, destination, amount)
        receive_hash = await receive(node, info, secret_key, send_hash)
        if wait_confirmed:
            await node.wait_confirmed(receive_hash)
    return send_hash, receive_hash


async def _send_from_genesis(node: NanoNode, info: dict[str, Any], destination: bytes, amount: int) -> str:
    secret = bytes.fromhex(info["genesis"]["privateKey"])
    async with _genesis_locks.setdefault(info["genesis"]["account"], asyncio.Lock()):
        for attempt in range(_ATTEMPTS):
            try:
                return await send(node, info, secret, destination, amount)
            except NodeError as error:
                if error.message not in _FRONTIER_RACE_ERRORS or attempt == _ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")
