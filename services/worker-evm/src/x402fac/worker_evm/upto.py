"""The `upto` scheme on EVM networks: the payer authorizes a maximum with a Permit2 witness transfer
to the x402 upto proxy, and the resource server settles what was used (the settle's `amount`, at
most that maximum; 0 settles with no transaction). Decoding, the chain checks and the settlement are
Permit2 `exact`'s (`permit2`, `verify_permit2`, `settle`, `confirm`) with the upto proxy, its witness
(which names the facilitator) and the amount; the networks, signers and nonces are the `exact`
scheme's, shared (one nonce sequence per key).

identify: listed asset -> the maximum (`permitted.amount`) at least the network's minimum -> spender
is the upto proxy -> `permitted.token` is the asset -> `witness.facilitator` is one of our signers on
the network -> `permitted.amount` is `accepted.amount` -> the settle's amount at most that -> the
signature. verify: recipient, deadline, validAfter, then `verify_permit2.check_chain` (Permit2 nonce,
balance and allowance for the amount charged, the proxy call simulated). The proxy accepts the call
only from `witness.facilitator`: that signer settles it, on whichever replica holds its key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nats.aio.client import Client

from x402fac.protocol import Reason, SupportedKind, VerifyRequest
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Identity, Invalid, Outcome, Prepared, Scheme, Submitted, SupportedPart

from . import eip3009, permit2, settle, verify_permit2
from .eip3009 import PayloadError
from .exact import ExactEvmScheme
from .permit2 import UPTO_PROXY_ADDRESS
from .runtime import EvmRuntime, unavailable
from .settle import EvmAttempt, GasPlan
from .verify import check_signature
from .verify_permit2 import Permit2Payment


class UptoEvmScheme(Scheme):
    name = "upto"
    settles_up_to = True

    def __init__(self, exact: ExactEvmScheme) -> None:
        self.exact = exact  # its runtimes and signer leases: one nonce sequence per key
        self.runtimes = {net: rt for net, rt in exact.runtimes.items() if rt.config.upto}

    def networks(self) -> list[str]:
        return list(self.runtimes)

    def can_settle(self) -> bool:
        return self.exact.can_settle()

    async def start(self, nc: Client, replica: str) -> None:
        """The `exact` scheme leases the shared keys."""

    async def close(self) -> None:
        """The `exact` scheme closes the shared runtimes."""

    def supported(self) -> SupportedPart:
        kinds = []
        for caip2, runtime in self.runtimes.items():
            if not runtime.signers:
                continue
            # The address the payer binds in the witness: the proxy takes the settlement from it only.
            extra: dict = {"facilitatorAddress": runtime.signers[0].address}
            asset = runtime.config.default_asset
            tokens = sorted(runtime.config.allowed_assets - {asset.address.lower()} if asset else set())
            if asset is not None:
                info = {"name": asset.name, "version": asset.version, "asset": asset.address}
                kinds.append(
                    SupportedKind(x402_version=2, scheme=self.name, network=caip2, extra={**extra, **info})
                )
            for token in tokens:
                info = {"asset": eip3009.checksum_address(token)}
                kinds.append(
                    SupportedKind(x402_version=2, scheme=self.name, network=caip2, extra={**extra, **info})
                )
        return SupportedPart(kinds=kinds)

    async def identify(self, request: VerifyRequest) -> Identity[Permit2Payment]:
        return await identify(self.runtimes[request.payment_requirements.network], request)

    async def verify(self, request: VerifyRequest, identity: Identity[Permit2Payment]) -> None:
        await verify(request, identity.payment, simulate=True)

    async def verify_for_settle(
        self, request: VerifyRequest, identity: Identity[Permit2Payment]
    ) -> GasPlan | None:
        payment = identity.payment
        if payment.transfer_amount == 0:
            return None  # nothing to send: the authorization is only recorded as settled
        await verify(request, payment, simulate=False)
        return await settle.plan(payment, self._usable(payment))

    async def prepare(
        self, request: VerifyRequest, identity: Identity[Permit2Payment], checked: GasPlan | None = None
    ) -> Prepared[EvmAttempt] | None:
        payment = identity.payment
        if payment.transfer_amount == 0:
            return None
        plan = checked
        if plan is None or not self.exact.signers.usable(plan.signer.address):
            plan = await settle.plan(payment, self._usable(payment))
        return await settle.sign(payment, plan)

    def _usable(self, payment: Permit2Payment) -> Callable[[str], bool]:
        """Only the signer the witness names may call the proxy; another replica may hold its key."""
        facilitator = payment.authorization.facilitator
        return lambda address: address == facilitator and self.exact.signers.usable(address)

    async def discard(self, prepared: Prepared[EvmAttempt]) -> None:
        await self.exact.discard(prepared)

    async def broadcast(self, prepared: Prepared[EvmAttempt]) -> None:
        await self.exact.broadcast(prepared)

    async def confirm(self, prepared: Prepared[EvmAttempt], timeout: float) -> Outcome:
        return await self.exact.confirm(prepared, timeout)

    async def resolve(self, submitted: Submitted, timeout: float) -> Outcome:
        return await self.exact.resolve(submitted, timeout)


async def identify(runtime: EvmRuntime, request: VerifyRequest) -> Identity[Permit2Payment]:
    """Decode the upto authorization and check the payer signed it for us, all before the ledger."""
    requirements, accepted = request.payment_requirements, request.payment_payload.accepted
    try:
        auth, signature = permit2.parse_payload(request.payment_payload.payload, upto=True)
    except PayloadError as exc:
        raise Invalid(Reason.INVALID_PAYLOAD, str(exc)) from None
    token, config = requirements.asset, runtime.config
    if not eip3009.is_address(token):
        raise Invalid(Reason.INVALID_PAYLOAD, "paymentRequirements.asset is not a token address")
    if not (runtime.listed(token) or config.any_asset):
        raise Invalid(Reason.UNSUPPORTED_ASSET, f"asset {token} is not accepted on {config.network}")
    minimum, charged = config.min_amount_of(token), int(requirements.amount)
    if auth.amount < minimum or 0 < charged < minimum:
        raise Invalid(
            Reason.AMOUNT_BELOW_MINIMUM,
            f"the maximum {auth.amount} or the amount {charged} is below the minimum {minimum} for {token}"
            f" on {config.network} (an amount of 0 settles nothing)",
        )
    if auth.spender != UPTO_PROXY_ADDRESS:
        raise Invalid(
            Reason.INVALID_PERMIT2_SPENDER,
            f"spender is {auth.spender}, not the x402 upto proxy {UPTO_PROXY_ADDRESS}",
        )
    if auth.token.lower() != token.lower():
        raise Invalid(Reason.PERMIT2_TOKEN_MISMATCH, f"permitted.token is {auth.token}, asset is {token}")
    if auth.facilitator not in {signer.address for signer in runtime.signers}:
        raise Invalid(
            Reason.UPTO_FACILITATOR_MISMATCH,
            f"witness.facilitator {auth.facilitator} is not a facilitator of {config.network}",
        )
    if auth.amount != int(accepted.amount):
        raise Invalid(
            Reason.PERMIT2_AMOUNT_MISMATCH,
            f"permitted.amount {auth.amount} is not accepted.amount {accepted.amount}",
        )
    if charged > auth.amount:
        raise Invalid(
            Reason.UPTO_SETTLEMENT_EXCEEDS_AMOUNT,
            f"amount {charged} is above the authorized maximum {auth.amount}",
        )
    digest = permit2.digest(auth, config.chain_id)
    try:
        await check_signature(runtime, auth.owner, digest, signature, Reason.INVALID_PERMIT2_SIGNATURE)
    except NodeUnavailable as exc:
        raise unavailable(exc) from None
    payment = Permit2Payment(
        runtime=runtime,
        authorization=auth,
        signature=signature,
        permit=None,
        approval=None,
        calldata=permit2.upto_settle_calldata(auth, signature, charged, None),
        proxy=UPTO_PROXY_ADDRESS,
        charged=charged,
    )
    return Identity(
        payment_id=permit2.payment_id(config.chain_id, auth.owner, auth.nonce),
        payer=auth.owner,
        amount=str(charged),
        payment=payment,
    )


async def verify(request: VerifyRequest, payment: Permit2Payment, *, simulate: bool) -> None:
    """Every check but the signature's (`simulate`: the proxy call executed too)."""
    requirements, auth = request.payment_requirements, payment.authorization
    if auth.to.lower() != requirements.pay_to.lower():
        raise Invalid(
            Reason.PERMIT2_RECIPIENT_MISMATCH, f"witness.to is {auth.to}, payTo is {requirements.pay_to}"
        )
    now = int(time.time())
    if permit2.expired(auth.deadline, now):
        raise Invalid(
            Reason.PERMIT2_DEADLINE_EXPIRED,
            f"deadline {auth.deadline} is less than {permit2.DEADLINE_MARGIN}s after now ({now})",
        )
    if auth.valid_after > now:
        raise Invalid(
            Reason.PERMIT2_NOT_YET_VALID, f"witness.validAfter {auth.valid_after} is after now ({now})"
        )
    if payment.transfer_amount == 0:
        return  # nothing will move: no balance or allowance is needed
    try:
        await verify_permit2.check_chain(payment, simulate)
    except NodeUnavailable as exc:
        raise unavailable(exc) from None
