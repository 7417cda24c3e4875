"""Identify (the payload alone: block, signature, recipient, work) and verify (the chain's view:
frontier, confirmation, exact amount) of a Nano `exact` payment."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from x402fac.nano import (
    AddressError,
    BlockError,
    block_hash,
    decode_address,
    ed25519,
    encode_address,
    parse_block,
)
from x402fac.protocol import Reason, VerifyRequest
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Identity, Invalid

from .chain import NodeError
from .runtime import NanoPayment, NanoRuntime

ASSET = "XNO"
NO_SUCCESSOR = "0" * 64  # how the node writes the successor of an account's frontier
BLOCK_KEYS = ("block", "signedBlock")  # the payload key of the two upstream drafts
T = TypeVar("T")


async def identify(runtime: NanoRuntime, request: VerifyRequest) -> Identity[NanoPayment]:
    """Everything the payload alone can tell; no chain access, so forged blocks never reach the ledger."""
    requirements = request.payment_requirements
    if requirements.asset.upper() != ASSET:
        raise Invalid(Reason.UNSUPPORTED_ASSET, f"asset {requirements.asset!r} is not {ASSET}")
    payload = request.payment_payload.payload
    # Two drafts of the Nano `exact` scheme name the block `block` and `signedBlock`: either is
    # accepted and answered the same (both at once only if they are the same block).
    named = [payload[key] for key in BLOCK_KEYS if key in payload] if isinstance(payload, dict) else []
    if not named:
        raise Invalid(Reason.INVALID_BLOCK, 'payload must be {"block": <state block>} (or "signedBlock")')
    if any(other != named[0] for other in named[1:]):
        raise Invalid(Reason.INVALID_BLOCK, "payload.block and payload.signedBlock are different blocks")
    try:
        block = parse_block(named[0])
    except BlockError as error:
        raise Invalid(Reason.INVALID_BLOCK, str(error)) from None
    payer = encode_address(block.account)
    digest = block_hash(block)  # hashed once: the signed message and the payment id
    if not ed25519.verify(block.account, digest, block.signature):
        raise Invalid(
            Reason.INVALID_SIGNATURE,
            "signature is not a valid canonical ed25519-blake2b signature of the block by its account",
            payer,
        )
    try:
        pay_to = decode_address(requirements.pay_to)
    except AddressError as error:
        raise Invalid(Reason.RECIPIENT_MISMATCH, f"payTo is not a Nano address: {error}", payer) from None
    if block.link != pay_to:
        raise Invalid(
            Reason.RECIPIENT_MISMATCH,
            f"the signed link pays {encode_address(block.link)}, not payTo {requirements.pay_to}",
            payer,
        )
    if not block.work_valid(runtime.config.work_threshold):
        raise Invalid(
            Reason.INVALID_WORK,
            f"work is below the {requirements.network} threshold {runtime.config.work_threshold_hex}"
            f" for root {block.root.hex().upper()}",
            payer,
        )
    return Identity(payment_id=digest.hex().upper(), payer=payer, amount=requirements.amount, payment=block)


async def verify(runtime: NanoRuntime, identity: Identity[NanoPayment]) -> None:
    """Reads only: the account's confirmed frontier is `previous`, and the block sends exactly `amount`."""
    block = identity.payment
    minimum = runtime.config.min_amount
    if int(identity.amount) < minimum:
        raise Invalid(
            Reason.AMOUNT_BELOW_MINIMUM,
            f"amount {identity.amount} raw is below the minimum {minimum} raw on {runtime.config.network}",
            identity.payer,
        )
    previous = block.previous.hex().upper()
    # The common case in one batched read of `previous`: a block of the payer's account with no
    # successor is the account's frontier, its balance is the account's balance there, and once it is
    # confirmed that balance is the confirmed one. Anything else takes the account's own state.
    parent = await _node_call(runtime.blocks.block(previous), identity.payer)
    if (
        parent is not None
        and parent.get("block_account") == identity.payer
        and parent.get("successor") == NO_SUCCESSOR
        and _is_raw(balance := parent.get("balance"))
    ):
        if parent.get("confirmed") != "true":
            raise Invalid(
                Reason.FRONTIER_UNCONFIRMED, f"frontier {previous} is not confirmed yet", identity.payer
            )
        check_amount(int(balance), block, int(identity.amount), identity.payer)
        return
    await _verify_by_account(runtime, identity, previous)


async def _verify_by_account(runtime: NanoRuntime, identity: Identity[NanoPayment], previous: str) -> None:
    """The payer's state as `account_info` has it: names what is wrong when `previous` is not the frontier."""
    # A block whose previous is the frontier cannot be on the ledger yet, so whether it is (already
    # settled) is asked only when the frontier moved on. Representatives are not part of the check.
    state = await _node_call(runtime.node.account_info(identity.payer, representative=False), identity.payer)
    if state is None or previous != state["frontier"]:
        existing = await _node_call(runtime.node.block_info(identity.payment_id), identity.payer)
        if existing is not None:
            raise Invalid(
                Reason.BLOCK_ALREADY_EXISTS,
                f"block {identity.payment_id} is already on the ledger (confirmed: {existing.get('confirmed')})",
                identity.payer,
            )
    if state is None:
        raise Invalid(Reason.ACCOUNT_NOT_FOUND, f"{identity.payer} is not opened", identity.payer)
    if previous != state["frontier"]:
        raise Invalid(
            Reason.FRONTIER_MOVED,
            f"previous {previous} is not the account frontier {state['frontier']}",
            identity.payer,
        )
    if state["confirmed_frontier"] != state["frontier"]:
        raise Invalid(
            Reason.FRONTIER_UNCONFIRMED,
            f"frontier {state['frontier']} is not confirmed yet (confirmed: {state['confirmed_frontier']})",
            identity.payer,
        )
    check_amount(int(state["confirmed_balance"]), identity.payment, int(identity.amount), identity.payer)


def _is_raw(value: object) -> bool:
    return isinstance(value, str) and value.isascii() and value.isdigit()


def check_amount(confirmed_balance: int, block: NanoPayment, amount: int, payer: str) -> None:
    sent = confirmed_balance - block.balance
    if sent == amount:
        return
    if sent <= 0:
        raise Invalid(
            Reason.AMOUNT_MISMATCH,
            f"the block sends nothing: its balance {block.balance} is not below the confirmed {confirmed_balance}",
            payer,
        )
    side = "underpaid" if sent < amount else "overpaid"
    raise Invalid(
        Reason.AMOUNT_MISMATCH,
        f"{side}: the block sends {sent} raw, the price is {amount} raw ({side} by {abs(sent - amount)})",
        payer,
    )


async def _node_call(call: Awaitable[T], payer: str) -> T:
    """A read for verify; a node that cannot answer, or answers an error, is `node_unavailable`."""
    try:
        return await call
    except NodeUnavailable as error:
        raise Invalid(Reason.NODE_UNAVAILABLE, str(error), payer) from None
    except NodeError as error:
        raise Invalid(Reason.NODE_UNAVAILABLE, f"node error: {error}", payer) from None
