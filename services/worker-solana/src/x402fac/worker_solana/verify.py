"""Identify (the transaction's bytes alone: layout, signatures, what it may cost us) and verify (the
chain's view, read only: accounts, lookup tables, the mint, a simulation) of a Solana `exact` payment."""

from __future__ import annotations

import hashlib
from typing import Any

from solders.pubkey import Pubkey

from x402fac.protocol import Reason, VerifyRequest
from x402fac.rpc import NodeUnavailable, RpcError
from x402fac.solana import ADDRESS_LOOKUP_TABLE_PROGRAM
from x402fac.worker import Identity, Invalid

from .chain import AccountData
from .config import Limits
from .mint import Mint, read_mint
from .runtime import SolanaRuntime, error_text, is_insufficient_funds
from .transaction import (
    SolanaPayment,
    check_signatures,
    derive_ata,
    lookup_table_addresses,
    read_payment,
)

MIN_RANDOM_MEMO_BYTES = 16  # a memo the requirements do not name must make the payment unique


def _amount(value: str, payer: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Invalid(Reason.INVALID_PAYLOAD, f"amount {value!r} is not an integer", payer) from None


async def identify(runtime: SolanaRuntime, request: VerifyRequest) -> Identity[SolanaPayment]:
    """Decode the transaction, check every signature the payer side must have made, and refuse
    before any state what is not worth settling or would cost us more than configured."""
    requirements = request.payment_requirements
    limits = runtime.config.limits
    payload = request.payment_payload.payload
    payment = read_payment(payload.get("transaction"), limits.max_compute_unit_price)
    check_signatures(payment)
    payer = str(payment.payer)
    _check_cost(payment, limits, payer)
    if runtime.config.assets is not None and requirements.asset not in runtime.config.assets:
        raise Invalid(
            Reason.UNSUPPORTED_ASSET,
            f"asset {requirements.asset} is not accepted on {requirements.network}",
            payer,
        )
    minimum = limits.min_amount_of(requirements.asset)
    for what, amount in (
        ("amount", _amount(requirements.amount, payer)),
        ("transfer", payment.transfer.amount),
    ):
        if amount < minimum:
            raise Invalid(
                Reason.AMOUNT_BELOW_MINIMUM,
                f"the {what} is {amount}; {requirements.network} accepts at least {minimum} of this asset",
                payer,
            )
    memo_digest = hashlib.sha256(payment.memo).hexdigest()
    return Identity(
        payment_id=payment.payment_id,
        payer=payer,
        amount=str(payment.transfer.amount),
        payment=payment,
        # One purchase per memo: a second payment carrying it to the same payee is a duplicate.
        secondary_keys=(f"memo/{requirements.network}/{requirements.pay_to}/{memo_digest}",),
    )


def _check_cost(payment: SolanaPayment, limits: Limits, payer: str) -> None:
    """We pay the fee: the compute units requested and the whole fee are capped per network."""
    if payment.compute_unit_limit > limits.max_compute_unit_limit:
        raise Invalid(
            Reason.COMPUTE_LIMIT_TOO_HIGH,
            f"the transaction may use {payment.compute_unit_limit} compute units; "
            f"at most {limits.max_compute_unit_limit} are sponsored",
            payer,
        )
    if payment.fee > limits.max_fee_lamports:
        raise Invalid(
            Reason.FEE_TOO_HIGH,
            f"the fee would be {payment.fee} lamports ({payment.compute_unit_limit} units at "
            f"{payment.compute_unit_price} micro-lamports plus signatures); at most "
            f"{limits.max_fee_lamports} are sponsored",
            payer,
        )


async def verify(runtime: SolanaRuntime, request: VerifyRequest, identity: Identity[SolanaPayment]) -> None:
    """Every check that needs the chain, reading it but never writing."""
    requirements = request.payment_requirements
    payment = identity.payment
    payer = identity.payer
    extra = requirements.extra or {}

    fee_payer = extra.get("feePayer")
    if not isinstance(fee_payer, str) or fee_payer not in runtime.fee_payers:
        raise Invalid(
            Reason.FEE_PAYER_NOT_MANAGED,
            f"extra.feePayer {fee_payer!r} is not a fee payer of this facilitator",
            payer,
        )
    if str(payment.fee_payer) != fee_payer:
        raise Invalid(
            Reason.FEE_PAYER_NOT_MANAGED,
            f"the transaction's fee payer is {payment.fee_payer}, not extra.feePayer {fee_payer}",
            payer,
        )
    if payer in runtime.fee_payers:
        raise Invalid(Reason.FEE_PAYER_TRANSFERRING, "the transfer authority is a facilitator key", payer)
    _check_memo(payment, extra.get("memo"), payer)

    asset, pay_to = _addresses(requirements.asset, requirements.pay_to, payer)
    mint, keys = await _load(runtime, payment, asset, payer)
    refused = sorted(mint.extensions - runtime.config.limits.allowed_mint_extensions)
    if refused:
        raise Invalid(
            Reason.MINT_EXTENSION_NOT_ALLOWED,
            f"mint {asset} has Token-2022 extensions that can take a cut or move funds back: "
            f"{', '.join(refused)}",
            payer,
        )

    transfer = payment.transfer
    if keys[transfer.mint_index] != asset:
        raise Invalid(
            Reason.MINT_MISMATCH,
            f"the transfer moves mint {keys[transfer.mint_index]}, not {asset}",
            payer,
        )
    if transfer.program != mint.program:
        raise Invalid(
            Reason.MINT_MISMATCH,
            f"asset {asset} belongs to {mint.program}, the transfer calls {transfer.program}",
            payer,
        )
    expected_destination = derive_ata(pay_to, asset, mint.program)
    if keys[transfer.destination_index] != expected_destination:
        raise Invalid(
            Reason.RECIPIENT_MISMATCH,
            f"the transfer pays {keys[transfer.destination_index]}, not {pay_to}'s token account "
            f"{expected_destination}",
            payer,
        )
    required = _amount(requirements.amount, payer)
    # With a transfer fee, payTo nets the transfer minus the fee: that is what must equal amount.
    fee = mint.fee(transfer.amount, await _epoch(runtime, mint, payer))
    net = transfer.amount - fee
    after_fee = f" ({fee} of {transfer.amount} go to the mint's transfer fee)" if fee else ""
    if net < required:
        raise Invalid(Reason.AMOUNT_TOO_LOW, f"payTo nets {net}{after_fee}, {required} required", payer)
    if net > required:
        raise Invalid(
            Reason.AMOUNT_MISMATCH, f"payTo nets {net}{after_fee}, over the {required} required", payer
        )
    fee_payer_keys = runtime.fee_payer_keys
    for index in payment.account_indexes:
        if keys[index] in fee_payer_keys:
            raise Invalid(
                Reason.FEE_PAYER_IN_INSTRUCTION,
                f"facilitator key {keys[index]} appears in an instruction's accounts",
                payer,
            )
    await _simulate(runtime, payment, payer)


def _check_memo(payment: SolanaPayment, expected: Any, payer: str) -> None:
    if isinstance(expected, str) and expected:
        if payment.memo != expected.encode():
            raise Invalid(Reason.MEMO_MISMATCH, "the memo differs from extra.memo", payer)
    elif len(payment.memo) < MIN_RANDOM_MEMO_BYTES:
        raise Invalid(
            Reason.MEMO_MISSING,
            f"without extra.memo the memo must carry at least {MIN_RANDOM_MEMO_BYTES} random bytes",
            payer,
        )


def _addresses(asset: str, pay_to: str, payer: str) -> tuple[Pubkey, Pubkey]:
    try:
        asset_key = Pubkey.from_string(asset)
    except ValueError:
        raise Invalid(Reason.ASSET_NOT_A_MINT, f"asset {asset!r} is not a Solana address", payer) from None
    try:
        pay_to_key = Pubkey.from_string(pay_to)
    except ValueError:
        raise Invalid(Reason.RECIPIENT_MISMATCH, f"payTo {pay_to!r} is not a Solana address", payer) from None
    return asset_key, pay_to_key


async def _load(
    runtime: SolanaRuntime, payment: SolanaPayment, asset: Pubkey, payer: str
) -> tuple[Mint, list[Pubkey]]:
    """The asset's mint and the full account list, in one getMultipleAccounts call at most."""
    lookups = payment.lookups
    mint = runtime.mints.get(str(asset))
    wanted = ([] if mint else [str(asset)]) + [str(lookup.account_key) for lookup in lookups]
    fetched: list[AccountData | None] = []
    if wanted:
        try:
            fetched = await runtime.client.accounts(wanted)
        except (NodeUnavailable, RpcError) as exc:
            raise Invalid(Reason.NODE_UNAVAILABLE, str(exc), payer) from None
    if mint is None:
        account = fetched.pop(0)
        mint = None if account is None else read_mint(account.owner, account.data)
        if mint is None:
            raise Invalid(Reason.ASSET_NOT_A_MINT, f"{asset} is not an SPL Token or Token-2022 mint", payer)
        if not mint.has_fee_config:  # a fee schedule can change: read it every time
            runtime.mints[str(asset)] = mint
    writable: list[Pubkey] = []
    readonly: list[Pubkey] = []
    for lookup, table in zip(lookups, fetched, strict=True):
        if table is None or table.owner != str(ADDRESS_LOOKUP_TABLE_PROGRAM):
            raise Invalid(
                Reason.LOOKUP_TABLE_UNRESOLVED, f"lookup table {lookup.account_key} does not exist", payer
            )
        try:
            addresses = lookup_table_addresses(table.data)
            writable.extend(addresses[i] for i in bytes(lookup.writable_indexes))
            readonly.extend(addresses[i] for i in bytes(lookup.readonly_indexes))
        except (ValueError, IndexError):
            raise Invalid(
                Reason.LOOKUP_TABLE_UNRESOLVED, f"lookup table {lookup.account_key} cannot be read", payer
            ) from None
    keys = [*payment.static_keys, *writable, *readonly]
    if any(index >= len(keys) for index in payment.account_indexes):
        raise Invalid(Reason.INVALID_INSTRUCTIONS, "an instruction names an account out of range", payer)
    return mint, keys


async def _epoch(runtime: SolanaRuntime, mint: Mint, payer: str) -> int | None:
    """The current epoch, when the mint's fee depends on it (a new fee schedule is pending)."""
    if not mint.fee_depends_on_epoch:
        return None
    try:
        return await runtime.client.epoch()
    except (NodeUnavailable, RpcError) as exc:
        raise Invalid(Reason.NODE_UNAVAILABLE, str(exc), payer) from None


async def _simulate(runtime: SolanaRuntime, payment: SolanaPayment, payer: str) -> None:
    # Our slot is unsigned yet and every other signature was checked above: no sigVerify.
    try:
        result = await runtime.client.simulate(bytes(payment.transaction))
    except NodeUnavailable as exc:
        raise Invalid(Reason.NODE_UNAVAILABLE, str(exc), payer) from None
    except RpcError as exc:
        raise Invalid(Reason.SIMULATION_FAILED, exc.message, payer) from None
    err = result.get("err")
    if err is None:
        return
    if err == "BlockhashNotFound":
        raise Invalid(Reason.BLOCKHASH_EXPIRED, "the transaction's blockhash expired; sign it anew", payer)
    if err == "AlreadyProcessed":
        raise Invalid(Reason.DUPLICATE_SETTLEMENT, "this transaction was already processed", payer)
    if is_insufficient_funds(err):
        raise Invalid(
            Reason.INSUFFICIENT_BALANCE, "the payer's token balance does not cover the amount", payer
        )
    logs = result.get("logs") or []
    detail = f"; {logs[-1]}" if logs else ""
    raise Invalid(Reason.SIMULATION_FAILED, f"simulation failed: {error_text(err)}{detail}", payer)
