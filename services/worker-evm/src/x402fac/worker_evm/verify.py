"""identify (before the ledger, no RPC until the signature check) and verify (reads only).

identify: listed asset (`unsupported_asset` unless the network opted into any EIP-3009 token) ->
amount at least the network's minimum -> EIP-712 domain present in `extra` -> signature (EOA recovery
locally; a payer holding code is asked through ERC-1271; an ERC-6492 wrapper: `counterfactual`).
verify, in the order of the official x402 facilitator: recipient -> amount -> validBefore (6 s
margin) -> validAfter -> asset is a contract (an unlisted one must also answer EIP-3009's
`authorizationState` and `DOMAIN_SEPARATOR` sanely) -> simulation of the transfer (eth_call carrying
the fee fields the settlement will carry), whose failure is diagnosed from the token's state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from x402fac.protocol import PaymentRequirements, Reason, VerifyRequest
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Identity, Invalid

from . import counterfactual, eip3009, erc6492
from .chain import RpcError
from .config import TokenInfo
from .diagnose import DOMAIN_DIFFERS, diagnose, reverted
from .eip3009 import PayloadError
from .nonces import Fees
from .runtime import EvmPayment, EvmRuntime, hex_of, unavailable, view

Decoded = TypeVar("Decoded")
VALID_BEFORE_MARGIN = 6  # seconds the authorization must still be valid for, as the official SDK


async def identify(runtime: EvmRuntime, request: VerifyRequest) -> Identity[EvmPayment]:
    """Decode the authorization and check its signature (EOA locally, a contract wallet through
    ERC-1271), all before the ledger is touched."""
    requirements = request.payment_requirements
    authorization, signature = decode_payload(request, eip3009.parse_payload)
    check_asset_and_minimum(runtime, requirements)
    token, config = requirements.asset, runtime.config
    extra = requirements.extra or {}
    name, version = extra.get("name"), extra.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        raise Invalid(
            Reason.MISSING_EIP712_DOMAIN,
            "paymentRequirements.extra must carry the token's EIP-712 name and version",
        )
    separator = eip3009.domain_separator(name, version, config.chain_id, token)
    digest = eip3009.authorization_digest(authorization, separator)
    payer = authorization.from_address
    signature, deploying = await authenticate(runtime, payer, digest, signature, Reason.INVALID_SIGNATURE)
    payment_id = "/".join((str(config.chain_id), token.lower(), payer.lower(), hex_of(authorization.nonce)))
    transfer = eip3009.transfer_calldata(authorization, signature)
    payment = EvmPayment(
        runtime=runtime,
        asset=TokenInfo(token, name, version),
        authorization=authorization,
        signature=signature,
        settlement=counterfactual.settlement(deploying, token, transfer),
    )
    return Identity(payment_id=payment_id, payer=payer, amount=requirements.amount, payment=payment)


async def verify(request: VerifyRequest, payment: EvmPayment, *, simulate: bool) -> None:
    """Every check but the signature's; `simulate` also executes the transfer (settle executes it
    through gas estimation instead)."""
    requirements = request.payment_requirements
    authorization = payment.authorization
    if authorization.to.lower() != requirements.pay_to.lower():
        raise Invalid(
            Reason.RECIPIENT_MISMATCH,
            f"authorization.to is {authorization.to}, payTo is {requirements.pay_to}",
        )
    required = int(requirements.amount)
    if authorization.value < required:
        raise Invalid(Reason.AMOUNT_TOO_LOW, f"authorization.value {authorization.value} < amount {required}")
    if authorization.value > required:
        raise Invalid(
            Reason.AMOUNT_MISMATCH, f"authorization.value {authorization.value} > amount {required}"
        )
    now = int(time.time())
    if authorization.valid_before < now + VALID_BEFORE_MARGIN:
        raise Invalid(
            Reason.EXPIRED,
            f"validBefore {authorization.valid_before} is less than {VALID_BEFORE_MARGIN}s after now ({now})",
        )
    if authorization.valid_after > now:
        raise Invalid(Reason.NOT_YET_VALID, f"validAfter {authorization.valid_after} is after now ({now})")
    try:
        await _check_token(payment, simulate)
    except NodeUnavailable as exc:
        raise unavailable(exc) from None


def decode_payload(request: VerifyRequest, parse: Callable[[dict[str, Any]], Decoded]) -> Decoded:
    """The payload as `parse` reads it; a malformed one is refused invalid_payload."""
    try:
        return parse(request.payment_payload.payload)
    except PayloadError as exc:
        raise Invalid(Reason.INVALID_PAYLOAD, str(exc)) from None


def minimum_of_accepted_asset(runtime: EvmRuntime, token: str) -> int:
    """The network's minimum amount of `token`, once `token` is an address the network accepts
    (listed, or any token where the network opted in)."""
    if not eip3009.is_address(token):
        raise Invalid(Reason.INVALID_PAYLOAD, "paymentRequirements.asset is not a token address")
    config = runtime.config
    if not (runtime.listed(token) or config.any_asset):
        raise Invalid(Reason.UNSUPPORTED_ASSET, f"asset {token} is not accepted on {config.network}")
    return config.min_amount_of(token)


def check_asset_and_minimum(runtime: EvmRuntime, requirements: PaymentRequirements) -> None:
    """The asset is accepted on the network and the amount at least its minimum there."""
    token = requirements.asset
    minimum = minimum_of_accepted_asset(runtime, token)
    if int(requirements.amount) < minimum:  # AtomicAmount: decimal digits, checked on the wire
        raise Invalid(
            Reason.AMOUNT_BELOW_MINIMUM,
            f"amount {requirements.amount} is below the minimum {minimum} for {token} on {runtime.config.network}",
        )


async def authenticate(
    runtime: EvmRuntime,
    payer: str,
    digest: bytes,
    signature: bytes,
    reason: str,
    *,
    wrapper_allowed: bool = True,
) -> tuple[bytes, erc6492.Wrapped | None]:
    """`payer` signed `digest` (`check_signature`; an ERC-6492 wrapper, when allowed, through
    `counterfactual`), else Invalid with `reason`. Returns the signature the settlement carries (a
    wrapper's inner one) and the wrapper when the payer's wallet is still to be deployed."""
    wrapped = None
    if wrapper_allowed:
        try:
            wrapped = erc6492.unwrap(signature)
        except erc6492.WrapperError as exc:
            raise Invalid(Reason.INVALID_ERC6492_WRAPPER, str(exc)) from None
    try:
        if wrapped is None:
            await check_signature(runtime, payer, digest, signature, reason)
            return signature, None
        deploy = await counterfactual.check(runtime, payer, digest, wrapped, reason)
    except NodeUnavailable as exc:
        raise unavailable(exc) from None
    return wrapped.inner, wrapped if deploy else None


async def check_signature(
    runtime: EvmRuntime, payer: str, digest: bytes, signature: bytes, reason: str
) -> None:
    """`payer` signed `digest`: EOA recovery locally, else the payer contract's ERC-1271 answer;
    `reason` is the code a refusal carries."""
    if erc6492.is_wrapped(signature):  # `exact` payments unwrap it first (`counterfactual`); upto cannot
        raise Invalid(reason, "ERC-6492 (counterfactual wallet) signatures are not supported here")
    if eip3009.recover_signer(digest, signature) == payer:
        return
    code, answer = await runtime.rpc.batch(
        [
            ("eth_getCode", [payer, "latest"]),
            view(payer, eip3009.is_valid_signature_calldata(digest, signature)),
        ]
    )
    if isinstance(code, RpcError):
        raise Invalid(reason, f"could not read the payer's code: {code.message}")
    if code in ("0x", "0x0", None):
        raise Invalid(reason, f"the signature does not recover to the payer {payer}")
    if isinstance(answer, str) and bytes.fromhex(answer[2:])[:4] == eip3009.ERC1271_MAGIC_VALUE:
        return
    raise Invalid(reason, "the payer contract (ERC-1271) rejected the signature")


async def simulation_call(
    runtime: EvmRuntime, transfer: Callable[[str, Fees, int], dict[str, str]]
) -> tuple[str, list]:
    """The eth_call executing the settlement's `transfer` as our signer will send it, with the fee
    fields it will carry."""
    try:
        fees = await runtime.fees()
    except RpcError as exc:
        raise Invalid(Reason.SIMULATION_FAILED, f"could not read the network's fees: {exc.message}") from None
    return ("eth_call", [transfer(runtime.signers[0].address, fees, runtime.config.gas_limit), "latest"])


async def _check_token(payment: EvmPayment, simulate: bool) -> None:
    """The asset is a contract (an unlisted one also an EIP-3009 token), and (when `simulate`) the
    transfer would execute with the fee fields the settlement will carry: one batch."""
    runtime, token, authorization = payment.runtime, payment.token, payment.authorization
    calls: list[tuple[str, list]] = []
    # Decided once per call: other verifies run meanwhile.
    check_code = not runtime.known_contract(token)
    check_eip3009 = not runtime.listed(token) and not runtime.known_eip3009(token)
    if check_code:
        calls.append(("eth_getCode", [token, "latest"]))
    if check_eip3009:
        state = eip3009.authorization_state_calldata(authorization.from_address, authorization.nonce)
        calls.append(view(token, state))
        calls.append(view(token, eip3009.SELECTORS["DOMAIN_SEPARATOR"]))
    if simulate:
        calls.append(await simulation_call(runtime, payment.settlement.transfer))
    results = await runtime.rpc.batch(calls)
    if check_code:
        code = results.pop(0)
        if isinstance(code, RpcError) or code in ("0x", "0x0", None):
            raise Invalid(
                Reason.ASSET_NOT_A_CONTRACT, f"no contract at asset {token} on {runtime.config.network}"
            )
        runtime.remember_contract(token)
    if check_eip3009:
        state, separator = results.pop(0), results.pop(0)
        _check_eip3009(payment, state, separator)
        runtime.remember_eip3009(token)
    if not simulate:
        return
    (result,) = results
    if not isinstance(result, RpcError):
        return
    if not result.is_revert:
        raise Invalid(
            Reason.SIMULATION_FAILED, f"simulating transferWithAuthorization failed: {result.message}"
        )
    raise await diagnose(payment, reverted(result))


def _check_eip3009(payment: EvmPayment, state: object, separator: object) -> None:
    """An unlisted token (the network opted into any EIP-3009 token) must answer EIP-3009's views
    as one does: `authorizationState` a boolean word, `DOMAIN_SEPARATOR` the domain of `extra`."""
    token, runtime = payment.token, payment.runtime
    if not (isinstance(state, str) and len(state) == 66 and int(state, 16) in (0, 1)):
        raise Invalid(Reason.UNSUPPORTED_ASSET, f"asset {token} does not answer EIP-3009 authorizationState")
    if not (isinstance(separator, str) and len(separator) == 66):
        raise Invalid(Reason.UNSUPPORTED_ASSET, f"asset {token} has no EIP-712 DOMAIN_SEPARATOR")
    asset = payment.asset
    ours = eip3009.domain_separator(asset.name, asset.version, runtime.config.chain_id, token)
    if bytes.fromhex(separator[2:]) != ours:
        raise Invalid(Reason.TOKEN_DOMAIN_MISMATCH, DOMAIN_DIFFERS)
