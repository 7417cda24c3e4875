"""The chain's verdict on a settlement: our own attempt (`confirm`), or a transaction another process
recorded, judged from the chain and the sender/nonce hint it stored (`resolve`)."""

from __future__ import annotations

import asyncio
import time

from x402fac.protocol import Reason
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Confirmation, Outcome, Submitted

from . import eip3009, erc6492, permit2
from .chain import RpcError
from .diagnose import revert_cause
from .runtime import EvmRuntime
from .settle import Payment

Sender = tuple[str, int]  # the address that signed a transaction, and its nonce
PROXIES = {permit2.EXACT_PROXY_ADDRESS.lower(), permit2.UPTO_PROXY_ADDRESS.lower()}


def recorded_sender(submitted: Submitted) -> Sender | None:
    """The "address/nonce" hint stored by the process that signed the transaction."""
    if "/" not in submitted.hint:
        return None
    address, _, nonce_text = submitted.hint.partition("/")
    return address, int(nonce_text)


async def settled(
    runtime: EvmRuntime,
    transaction: str,
    timeout: float,
    payment: Payment | None,
    sender: Sender | None,
) -> Outcome:
    """The chain's verdict on `transaction`, waiting up to `timeout` for its receipt."""
    try:
        receipt = await runtime.receipts.wait(transaction, timeout)
        if receipt is None:
            return await _unmined(runtime, transaction, sender)
        signer = runtime.signer_of(transaction)
        if signer is not None:
            signer.nonces.mined(transaction)
        if runtime.config.confirmations > 1:
            receipt = await _await_depth(runtime, transaction, receipt, timeout)
            if receipt is None:
                return Outcome(Confirmation.PENDING, message=f"{transaction} awaits confirmations")
        if receipt.get("status") == "0x1":
            return _check_transfer(receipt, payment)
        runtime.count_revert(transaction, int(receipt.get("gasUsed") or "0x0", 16))
        return Outcome(
            Confirmation.FAILED,
            Reason.SETTLEMENT_FAILED,
            await revert_cause(runtime, transaction, receipt),
        )
    except (NodeUnavailable, RpcError) as exc:
        return Outcome(Confirmation.PENDING, message=f"node unavailable: {exc}")


def _check_transfer(receipt: dict, payment: Payment | None) -> Outcome:
    logs = receipt.get("logs") or []
    if payment is not None:
        found = payment.transferred(logs)
    elif (called := (receipt.get("to") or "").lower()) in PROXIES:
        found = permit2.proxy_settled(logs, called)  # the proxy says so only after Permit2 transferred
    else:  # reconciling without the payment: any Transfer emitted by the called token
        called = (receipt.get("to") or "").lower()
        # Through Multicall3 (an ERC-6492 wallet deployed first) the token is the second call, which
        # must succeed for the transaction to: any token's Transfer.
        via_multicall = called == erc6492.MULTICALL3.lower()
        found = any(
            (via_multicall or entry.get("address", "").lower() == called)
            and (entry.get("topics") or [""])[0] == eip3009.TRANSFER_TOPIC
            for entry in logs
        )
    if found:
        return Outcome(Confirmation.CONFIRMED)
    return Outcome(Confirmation.FAILED, Reason.SETTLEMENT_FAILED, "mined without the expected Transfer log")


async def _unmined(runtime: EvmRuntime, transaction: str, recorded: Sender | None) -> Outcome:
    """No receipt yet: pending, unless the transaction provably can never be mined."""
    for signer in runtime.signers:
        if signer.nonces.abandoned(transaction):
            return Outcome(
                Confirmation.DROPPED,
                Reason.SETTLEMENT_FAILED,
                "the transaction was never broadcast and its nonce went to another one",
            )
    signer = runtime.signer_of(transaction)
    sender, nonce = (signer.address, signer.nonces.nonce_of(transaction)) if signer else (None, None)
    if sender is None and recorded is not None:
        sender, nonce = recorded  # a record from another process: the hint it stored
    if sender is None:
        known = await runtime.rpc.call("eth_getTransactionByHash", transaction)
        if known is None:
            return Outcome(Confirmation.PENDING, message=f"{transaction} is not known to the node yet")
        sender, nonce = known["from"], int(known["nonce"], 16)
    count, receipt = await runtime.rpc.batch(
        [("eth_getTransactionCount", [sender, "latest"]), ("eth_getTransactionReceipt", [transaction])]
    )
    if isinstance(receipt, dict) or isinstance(count, RpcError) or nonce is None or int(count, 16) <= nonce:
        return Outcome(Confirmation.PENDING, message=f"{transaction} is not mined yet")
    return Outcome(
        Confirmation.DROPPED,
        Reason.SETTLEMENT_FAILED,
        f"nonce {nonce} of {sender} was used by another transaction; {transaction} will never be mined",
    )


async def _await_depth(runtime: EvmRuntime, transaction: str, receipt: dict, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    target = int(receipt["blockNumber"], 16) + runtime.config.confirmations - 1
    while time.monotonic() < deadline:
        head, current = await runtime.rpc.batch(
            [("eth_blockNumber", []), ("eth_getTransactionReceipt", [transaction])]
        )
        if not isinstance(current, dict):
            return None  # reorged out
        if isinstance(head, str) and int(head, 16) >= target:
            return current
        await asyncio.sleep(runtime.confirm_poll)
    return None
