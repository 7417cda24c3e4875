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
from x402fac.worker import Identity, Invalid, Outcome, Prepared, Scheme, Submitted, SupportedPart

from . import eip3009, permit2, settle
from .exact import ExactEvmScheme
from .permit2 import UPTO_PROXY_ADDRESS
from .runtime import EvmRuntime, Settlement
from .settle import EvmAttempt, GasPlan
from .verify import decode_payload, minimum_of_accepted_asset
from .verify_permit2 import (
    Permit2Payment,
    authenticate_permit2,
    check_chain,
    check_recipient,
    check_spender_and_token,
    check_time_window,
    identity_of,
)


class UptoEvmScheme(Scheme):
    name = "upto"
    settles_up_to = True
    prepare_reserves = True  # a signer nonce

    def __init__(self, exact: ExactEvmScheme) -> None:
        self.exact = exact  # its runtimes and signer leases: one nonce sequence per key
        self.runtimes = {net: rt for net, rt in exact.runtimes.items() if rt.config.upto}

    def networks(self) -> list[str]:
        return list(self.runtimes)

    settle_readiness_varies = True  # a leased signer key

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
    auth, signature = decode_payload(request, lambda payload: permit2.parse_payload(payload, upto=True))
    token, config = requirements.asset, runtime.config
    minimum, charged = minimum_of_accepted_asset(runtime, token), int(requirements.amount)
    if auth.amount < minimum or 0 < charged < minimum:
        raise Invalid(
            Reason.AMOUNT_BELOW_MINIMUM,
            f"the maximum {auth.amount} or the amount {charged} is below the minimum {minimum} for {token}"
            f" on {config.network} (an amount of 0 settles nothing)",
        )
    check_spender_and_token(auth, token, UPTO_PROXY_ADDRESS, "upto")
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
    # The upto proxy admits only the facilitator as caller: no Multicall3 deployment, no wrapper.
    signature, _ = await authenticate_permit2(runtime, auth, signature, wrapper_allowed=False)
    payment = Permit2Payment(
        runtime=runtime,
        authorization=auth,
        signature=signature,
        settlement=Settlement(
            UPTO_PROXY_ADDRESS, permit2.upto_settle_calldata(auth, signature, charged, None)
        ),
        proxy=UPTO_PROXY_ADDRESS,
        charged=charged,
    )
    return identity_of(payment, str(charged))


async def verify(request: VerifyRequest, payment: Permit2Payment, *, simulate: bool) -> None:
    """Every check but the signature's (`simulate`: the proxy call executed too)."""
    requirements, auth = request.payment_requirements, payment.authorization
    check_recipient(auth, requirements.pay_to)
    check_time_window(auth, int(time.time()))
    if payment.transfer_amount == 0:
        return  # nothing will move: no balance or allowance is needed
    await check_chain(payment, simulate)
