"""Planning and signing a settlement: the gas limit the transaction will carry, proven by executing
the transfer with it and the same fee fields (a token that only succeeds at gas price 0 fails here):
an eth_call at the most gas this token's transfers were found to need (+ margin), or gas estimation
the first time and whenever that call fails; then gas limit * maxFeePerGas against the network's cost
ceiling, before anything is signed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from x402fac.protocol import Reason
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Invalid, Prepared

from . import sponsor, verify_permit2
from .chain import RpcError
from .config import EvmNetworkConfig
from .diagnose import diagnose, reverted
from .nonces import Fees, Signer
from .runtime import EvmPayment, unavailable
from .verify_permit2 import Permit2Payment

Payment = EvmPayment | Permit2Payment

GAS_NEEDS_KEPT = 1_000  # tokens whose gas need is remembered (any-asset networks meet many)


@dataclass(frozen=True, slots=True)
class GasPlan:
    """How a payment will be sent: found by executing it (eth_estimateGas) as it will run."""

    signer: Signer
    fees: Fees
    gas: int
    sponsoring: sponsor.Sponsoring | None = None  # an approval to fund and send before the settlement


@dataclass(frozen=True, slots=True)
class EvmAttempt:
    """One signed transaction of ours carrying a payment."""

    payment: Payment
    signer: Signer
    nonce: int
    sponsoring: sponsor.Sponsoring | None = None
    funding: tuple[int, str] | None = None  # our transfer of the approval's gas: nonce, hash


async def plan(payment: Payment, usable: Callable[[str], bool]) -> GasPlan:
    """The signer, fees and gas for sending `payment`, within the network's gas and cost ceilings."""
    runtime = payment.runtime
    signer = runtime.pick_signer(usable)
    config = runtime.config
    try:
        fees = await runtime.fees()
        sponsoring = await sponsor.plan(payment, fees) if isinstance(payment, Permit2Payment) else None
        if sponsoring is not None:
            # Without the allowance the transfer cannot be executed yet: the most it was seen to need.
            known = runtime.gas_needed.get(payment.gas_key)
            gas = config.gas_limit if known is None else _with_margin(known, config)
            await signer.nonces.refresh()
        elif signer.nonces.resync_due:
            # The signer's nonce check (when it is idle) rides along instead of delaying the send.
            gas, _ = await asyncio.gather(_gas(payment, signer, fees), signer.nonces.refresh())
        else:  # a busy signer's nonces are known: no second task to run beside the gas check
            gas = await _gas(payment, signer, fees)
    except NodeUnavailable as exc:
        raise unavailable(exc) from None
    cost = gas * fees.max_fee_per_gas + (sponsoring.cost(fees) if sponsoring else 0)
    if cost > config.max_settle_cost_wei:
        # Nothing is signed or sent; the claim is released, so the same payment may settle later.
        raise Invalid(
            Reason.FEE_TOO_HIGH,
            f"settling would cost up to {cost} wei ({gas} gas at {fees.max_fee_per_gas} wei"
            f"{f', the approval funded with {sponsoring.funding} wei' if sponsoring else ''}), above"
            f" the ceiling {config.max_settle_cost_wei} on {config.network}; retry later",
        )
    return GasPlan(signer, fees, gas, sponsoring)


def _with_margin(gas: int, config: EvmNetworkConfig) -> int:
    return min(gas * (100 + config.gas_margin_percent) // 100, config.gas_limit)


async def _gas(payment: Payment, signer: Signer, fees: Fees) -> int:
    """A gas limit the transfer succeeds with, shown by executing it as it will run (sender, fee
    fields, that limit): one execution (eth_call) when the token's need is known, else estimation."""
    runtime, config = payment.runtime, payment.runtime.config
    key = payment.gas_key
    known = runtime.gas_needed.get(key) if key is not None else None
    if known is not None:
        gas = _with_margin(known, config)
        # a read: it shares its HTTP request with the nonce check beside it, and with other settles
        (executed,) = await runtime.rpc.batch(
            [("eth_call", [payment.settlement.transfer(signer.address, fees, gas), "latest"])]
        )
        if not isinstance(executed, RpcError):
            return gas
        # else not with that much gas, or not at all: estimation tells which, and why
    try:
        estimate = await runtime.rpc.call(
            "eth_estimateGas", payment.settlement.transfer(signer.address, fees, config.gas_limit)
        )
    except RpcError as exc:
        if exc.is_revert:  # the chain moved since verify (e.g. the authorization was just used)
            raise await _why(payment, reverted(exc)) from None
        raise Invalid(Reason.SIMULATION_FAILED, f"gas estimation failed: {exc.message}") from None
    needed = int(estimate, 16)
    if needed > config.gas_limit:
        raise Invalid(
            Reason.SIMULATION_FAILED,
            f"the transfer needs {needed} gas, above the limit {config.gas_limit}",
        )
    if key is not None and (key in runtime.gas_needed or len(runtime.gas_needed) < GAS_NEEDS_KEPT):
        runtime.gas_needed[key] = max(needed, runtime.gas_needed.get(key, 0))
    return _with_margin(needed, config)


async def _why(payment: Payment, revert: str) -> Invalid:
    if isinstance(payment, Permit2Payment):
        return await verify_permit2.diagnose(payment, revert)
    return await diagnose(payment, revert)


async def sign(payment: Payment, gas_plan: GasPlan) -> Prepared[EvmAttempt]:
    """The transaction carrying `payment` as planned, signed on a reserved nonce of the plan's signer."""
    signer, sponsoring = gas_plan.signer, gas_plan.sponsoring
    funding = None
    if sponsoring is not None and sponsoring.funding:
        # Its nonce comes first: the payer needs the ether before the approval, and that before the
        # settlement.
        funding_nonce = await signer.nonces.reserve()
        try:
            funding_hash, funding_raw = sponsor.sign_funding(
                signer, funding_nonce, payment.authorization.owner, sponsoring, gas_plan.fees
            )
            signer.nonces.attach(funding_nonce, funding_hash, funding_raw)
        except BaseException:
            signer.nonces.release(funding_nonce)
            raise
        funding = (funding_nonce, funding_hash)
    try:
        nonce = await signer.nonces.reserve()
    except BaseException:
        if funding is not None:
            signer.nonces.release(funding[0])
        raise
    try:
        sent = payment.settlement
        tx_hash, raw = signer.sign(nonce, sent.target, sent.calldata, gas_plan.gas, gas_plan.fees)
        signer.nonces.attach(nonce, tx_hash, raw)
    except BaseException:
        signer.nonces.release(nonce)
        if funding is not None:
            signer.nonces.release(funding[0])
        raise
    # Another process judging this record later needs the sender and nonce (see confirm.unmined).
    return Prepared(
        transaction=tx_hash,
        network=payment.runtime.config.network,
        attempt=EvmAttempt(payment, signer, nonce, sponsoring, funding),
        hint=f"{signer.address}/{nonce}",
    )
