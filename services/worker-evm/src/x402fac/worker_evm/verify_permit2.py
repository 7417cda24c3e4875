"""Permit2 `exact`: identify (before the ledger), verify (reads only) and the diagnosis of a revert.

identify: listed asset (or the `any` opt-in: Permit2 moves any ERC-20) -> amount at least the
network's minimum -> spender is the x402 exact proxy -> `permitted.token` is the asset -> the
`eip2612GasSponsoring` permit (when the network enables it) is the payer's, for this token, to
Permit2, of the permitted amount, or else the `erc20ApprovalGasSponsoring` transaction is the payer's
`approve(Permit2, ≥ amount)` of this token on this chain (`sponsor.approval_of`) -> signature (EOA
recovery locally, ERC-1271 for a payer with code, an ERC-6492 wrapper through `counterfactual`: the
settlement then deploys the wallet before calling the proxy, through Multicall3).
verify, in the order of the official x402 facilitator: recipient -> amount -> deadline (6 s margin)
-> validAfter -> the EIP-2612 permit's deadline -> one batch: the asset and the proxy are contracts,
the Permit2 nonce is unused, balance, allowance to Permit2 (unless an extension grants it), and the
proxy call simulated with the fee fields the settlement will carry (while a sponsored approval is
still to be sent: the approval executed, and its nonce the payer's next, instead).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from x402fac.protocol import Reason, VerifyRequest
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Identity, Invalid

from . import counterfactual, eip3009, erc6492, permit2, sponsor
from .chain import RpcError
from .diagnose import reverted
from .permit2 import EXACT_PROXY_ADDRESS, PERMIT2_ADDRESS, Eip2612Permit, Permit2Authorization
from .runtime import EvmRuntime, Settlement, unavailable, view
from .transactions import SignedTransaction
from .verify import authenticate, check_asset_and_minimum, decode_payload, simulation_call

SIGNATURE_ERRORS = {
    "InvalidSigner",
    "InvalidSignature",
    "InvalidSignatureLength",
    "InvalidContractSignature",
}
# What a revert of Permit2 or the proxy means, by error name.
REVERT_REASONS = {
    "InvalidNonce": Reason.PERMIT2_INVALID_NONCE,
    "SignatureExpired": Reason.PERMIT2_DEADLINE_EXPIRED,
    "PaymentTooEarly": Reason.PERMIT2_NOT_YET_VALID,
    "InvalidDestination": Reason.PERMIT2_INVALID_DESTINATION,
    "Permit2612AmountMismatch": Reason.PERMIT2_2612_AMOUNT_MISMATCH,
    "AmountExceedsPermitted": Reason.UPTO_SETTLEMENT_EXCEEDS_AMOUNT,
    "UnauthorizedFacilitator": Reason.UPTO_FACILITATOR_MISMATCH,
    **dict.fromkeys(SIGNATURE_ERRORS, Reason.INVALID_PERMIT2_SIGNATURE),
}


@dataclass(frozen=True, slots=True)
class Permit2Payment:
    """A Permit2 authorization decoded and authenticated by `identify`, settled through the proxy."""

    runtime: EvmRuntime
    authorization: Permit2Authorization
    signature: bytes
    settlement: Settlement  # the proxy's settle, through Multicall3 for a new ERC-6492 wallet
    permit: Eip2612Permit | None = None  # the payer's EIP-2612 approval of Permit2, sent with the settlement
    approval: SignedTransaction | None = None  # the payer's approve transaction, sent (and funded) before it
    proxy: str = EXACT_PROXY_ADDRESS  # the x402 proxy settling it: exact, or upto (`upto.py`)
    charged: int | None = None  # upto: what the settlement transfers (at most permitted.amount)

    @property
    def transfer_amount(self) -> int:
        return self.authorization.amount if self.charged is None else self.charged

    @property
    def token(self) -> str:
        return self.authorization.token

    @property
    def gas_key(self) -> str | None:
        """What settlements alike need in gas (learnt once); none for one that deploys a wallet."""
        if self.settlement.deploys_wallet:
            return None
        upto = "-upto" if self.proxy != EXACT_PROXY_ADDRESS else ""
        return f"permit2{upto}{'+2612' if self.permit else ''}:{self.token.lower()}"

    def transferred(self, logs: list[dict]) -> bool:
        return permit2.transferred(logs, self.authorization, self.transfer_amount)


def permit_of(
    runtime: EvmRuntime, request: VerifyRequest, auth: Permit2Authorization
) -> Eip2612Permit | None:
    """The EIP-2612 permit the payload carries, when the network accepts the extension (else ignored)."""
    permit = sponsor.grant_of(runtime, request, auth, sponsor.EIP2612_PERMIT)
    if permit is None:
        return None
    if permit.value != auth.amount:
        raise Invalid(
            Reason.PERMIT2_2612_AMOUNT_MISMATCH,
            f"the EIP-2612 permit's amount {permit.value} is not the permitted amount {auth.amount}",
        )
    return permit


async def identify(runtime: EvmRuntime, request: VerifyRequest) -> Identity[Permit2Payment]:
    """Decode the Permit2 authorization and check the payer signed it, all before the ledger."""
    requirements = request.payment_requirements
    auth, signature = decode_payload(request, permit2.parse_payload)
    check_asset_and_minimum(runtime, requirements)
    check_spender_and_token(auth, requirements.asset, EXACT_PROXY_ADDRESS, "exact")
    permit = permit_of(runtime, request, auth)
    approval = None if permit is not None else sponsor.approval_of(runtime, request, auth)
    signature, deploying = await authenticate_permit2(runtime, auth, signature, wrapper_allowed=True)
    settle = permit2.settle_calldata(auth, signature, permit)
    payment = Permit2Payment(
        runtime=runtime,
        authorization=auth,
        signature=signature,
        settlement=counterfactual.settlement(deploying, EXACT_PROXY_ADDRESS, settle),
        permit=permit,
        approval=approval,
    )
    return identity_of(payment, requirements.amount)


def check_spender_and_token(auth: Permit2Authorization, token: str, proxy: str, scheme: str) -> None:
    """The payer let the x402 `scheme` proxy (`proxy`) move the asset `token`."""
    if auth.spender != proxy:
        raise Invalid(
            Reason.INVALID_PERMIT2_SPENDER,
            f"spender is {auth.spender}, not the x402 {scheme} proxy {proxy}",
        )
    if auth.token.lower() != token.lower():
        raise Invalid(Reason.PERMIT2_TOKEN_MISMATCH, f"permitted.token is {auth.token}, asset is {token}")


async def authenticate_permit2(
    runtime: EvmRuntime, auth: Permit2Authorization, signature: bytes, *, wrapper_allowed: bool
) -> tuple[bytes, erc6492.Wrapped | None]:
    """The payer signed `auth` (`verify.authenticate`, refusals invalid_permit2_signature)."""
    digest = permit2.digest(auth, runtime.config.chain_id)
    return await authenticate(
        runtime,
        auth.owner,
        digest,
        signature,
        Reason.INVALID_PERMIT2_SIGNATURE,
        wrapper_allowed=wrapper_allowed,
    )


def identity_of(payment: Permit2Payment, amount: str) -> Identity[Permit2Payment]:
    """An authenticated payment's identity, its Permit2 nonce, for the `amount` charged."""
    auth = payment.authorization
    return Identity(
        payment_id=permit2.payment_id(payment.runtime.config.chain_id, auth.owner, auth.nonce),
        payer=auth.owner,
        amount=amount,
        payment=payment,
    )


async def verify(request: VerifyRequest, payment: Permit2Payment, *, simulate: bool) -> None:
    """Every check but the signature's; `simulate` also executes the proxy call (settle executes it
    through gas estimation instead)."""
    requirements = request.payment_requirements
    auth = payment.authorization
    check_recipient(auth, requirements.pay_to)
    if auth.amount != int(requirements.amount):
        raise Invalid(
            Reason.PERMIT2_AMOUNT_MISMATCH,
            f"permitted.amount {auth.amount} is not amount {requirements.amount}",
        )
    now = int(time.time())
    check_time_window(auth, now)
    if payment.permit is not None and permit2.expired(payment.permit.deadline, now):
        raise Invalid(
            Reason.EIP2612_DEADLINE_EXPIRED,
            f"the EIP-2612 permit's deadline {payment.permit.deadline} passed",
        )
    await check_chain(payment, simulate)


def check_recipient(auth: Permit2Authorization, pay_to: str) -> None:
    if auth.to.lower() != pay_to.lower():
        raise Invalid(Reason.PERMIT2_RECIPIENT_MISMATCH, f"witness.to is {auth.to}, payTo is {pay_to}")


def check_time_window(auth: Permit2Authorization, now: int) -> None:
    """The deadline is at least the margin away and validAfter has come."""
    if permit2.expired(auth.deadline, now):
        raise Invalid(
            Reason.PERMIT2_DEADLINE_EXPIRED,
            f"deadline {auth.deadline} is less than {permit2.DEADLINE_MARGIN}s after now ({now})",
        )
    if auth.valid_after > now:
        raise Invalid(
            Reason.PERMIT2_NOT_YET_VALID, f"witness.validAfter {auth.valid_after} is after now ({now})"
        )


def _word(answer: object) -> int | None:
    if isinstance(answer, str) and len(answer) >= 66:
        return int(answer[2:66], 16)
    return None


def _state_calls(auth: Permit2Authorization) -> list[tuple[str, list]]:
    """The payer's Permit2 nonce word, token balance and allowance to Permit2."""
    return [
        view(PERMIT2_ADDRESS, permit2.nonce_bitmap_calldata(auth.owner, auth.nonce)),
        view(auth.token, eip3009.balance_of_calldata(auth.owner)),
        view(auth.token, permit2.allowance_calldata(auth.owner)),
    ]


def _check_state(payment: Permit2Payment, bitmap: object, balance: object, allowance: object) -> None:
    auth, amount = payment.authorization, payment.transfer_amount
    word = _word(bitmap)
    if word is not None and permit2.nonce_used(word, auth.nonce):
        raise Invalid(
            Reason.PERMIT2_INVALID_NONCE, f"Permit2 nonce {auth.nonce} of {auth.owner} was already used"
        )
    held = _word(balance)
    if held is not None and held < amount:
        raise Invalid(Reason.INSUFFICIENT_BALANCE, f"balance {held} < amount {amount}")
    allowed = _word(allowance)
    sponsored = payment.permit is not None or payment.approval is not None
    if not sponsored and allowed is not None and allowed < amount:
        raise Invalid(
            Reason.PERMIT2_ALLOWANCE_REQUIRED,
            f"{auth.owner} allows Permit2 {allowed} of {auth.token}, less than {amount}",
        )


async def check_chain(payment: Permit2Payment, simulate: bool) -> None:
    """One batch: the asset and the proxy hold code, the payer's Permit2 nonce, balance and allowance,
    and (when `simulate`) the proxy call executed as the settlement will run. Without `simulate` (settle,
    which executes the call next) the payer's state is read only for a sponsored approval."""
    try:
        await _check_chain(payment, simulate)
    except NodeUnavailable as exc:
        raise unavailable(exc) from None


async def _check_chain(payment: Permit2Payment, simulate: bool) -> None:
    runtime, auth = payment.runtime, payment.authorization
    unknown = [a for a in (auth.token, payment.proxy, PERMIT2_ADDRESS) if not runtime.known_contract(a)]
    calls: list[tuple[str, list]] = [("eth_getCode", [address, "latest"]) for address in unknown]
    # Settle executes the transfer next (settle.plan), and a revert there reads this state to say
    # why: read before only when simulating, or when the approval to send first depends on it.
    read_state = simulate or payment.approval is not None
    if read_state:
        calls += _state_calls(auth)
    if payment.approval is not None:
        calls += sponsor.approval_calls(payment.approval)
    if simulate:
        calls.append(await simulation_call(runtime, payment.settlement.transfer))
    if not calls:
        return
    results = await runtime.rpc.batch(calls)
    for address in unknown:
        code = results.pop(0)
        if isinstance(code, RpcError) or code in ("0x", "0x0", None):
            if address == auth.token:
                raise Invalid(
                    Reason.ASSET_NOT_A_CONTRACT, f"no contract at asset {address} on {runtime.config.network}"
                )
            raise Invalid(
                Reason.SIMULATION_FAILED, f"no Permit2 contract at {address} on {runtime.config.network}"
            )
        runtime.remember_contract(address)
    if not read_state:
        return
    bitmap, balance, allowance = results[:3]
    _check_state(payment, bitmap, balance, allowance)
    if payment.approval is not None:
        next_nonce, approved = results[3:5]
        del results[3:5]
        if (_word(allowance) or 0) < payment.transfer_amount:
            # The settlement can only run once the approval is mined: execute the approval instead.
            sponsor.check_approval(payment.approval, next_nonce, approved)
            return
    if not simulate:
        return
    result = results[3]
    if not isinstance(result, RpcError):
        return
    if not result.is_revert:
        raise Invalid(Reason.SIMULATION_FAILED, f"simulating the Permit2 settlement failed: {result.message}")
    raise await diagnose(payment, reverted(result))


async def diagnose(payment: Permit2Payment, revert: str) -> Invalid:
    """The most precise reason a simulated or estimated proxy call reverts: its error, else the
    payer's state (a spent nonce, the balance, the allowance the transfer needed)."""
    reason = REVERT_REASONS.get(revert)
    if reason is not None:
        return Invalid(reason, f"the Permit2 settlement would revert: {revert}")
    auth = payment.authorization
    try:
        bitmap, balance, allowance = await payment.runtime.rpc.batch(_state_calls(auth))
        _check_state(payment, bitmap, balance, allowance)
    except Invalid as invalid:
        return invalid
    if (
        payment.permit is not None
        and (held := _word(allowance)) is not None
        and held < payment.transfer_amount
    ):
        return Invalid(
            Reason.PERMIT2_ALLOWANCE_REQUIRED,
            f"the EIP-2612 permit does not give Permit2 an allowance ({revert or 'no reason'})",
        )
    return Invalid(Reason.SIMULATION_FAILED, f"the Permit2 settlement would revert: {revert or 'no reason'}")
