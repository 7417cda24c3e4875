"""The `exact` scheme on EVM networks, sent by our signers, by either asset transfer method of the x402
spec: EIP-3009 `transferWithAuthorization` (payload `authorization`), or Permit2 through the x402
exact proxy (payload `permit2Authorization`, with the `eip2612GasSponsoring` extension when enabled).

The scheme the worker wires, each job in its own module: `runtime` (per-network RPC, caches, fees),
`signers` (key leases, gas balances), `verify` / `verify_permit2` (identify and verify),
`counterfactual` (ERC-6492 payers of EIP-3009: authenticated by simulation, their wallet deployed by
the settlement), `diagnose` (why a transfer reverts), `settle` (gas plan, signing), `confirm` (the
chain's verdict, reconciliation).
(Scheme, network and the `accepted` binding are checked by the generic pipeline before.)
"""

from __future__ import annotations

from nats.aio.client import Client

from x402fac.protocol import SupportedKind, VerifyRequest
from x402fac.worker import (
    Identity,
    NetworkScheme,
    Outcome,
    Prepared,
    Rejected,
    Submitted,
    SupportedPart,
)

from . import confirm, eip3009, permit2, settle, sponsor, verify, verify_permit2
from .config import EvmNetworkConfig
from .runtime import EvmRuntime
from .settle import EvmAttempt, GasPlan, Payment
from .signers import SignerLeases
from .verify_permit2 import Permit2Payment


async def _verify(request: VerifyRequest, payment: Payment, *, simulate: bool) -> None:
    if isinstance(payment, Permit2Payment):
        await verify_permit2.verify(request, payment, simulate=simulate)
    else:
        await verify.verify(request, payment, simulate=simulate)


class ExactEvmScheme(NetworkScheme[EvmRuntime, Payment, EvmAttempt]):
    name = "exact"
    runtime_type = EvmRuntime
    prepare_reserves = True  # a signer nonce

    def __init__(
        self,
        networks: list[EvmNetworkConfig],
        *,
        lease_ttl: float = 15.0,
        lease_margin: float = 3.0,
        **runtime_options: float,
    ) -> None:
        super().__init__(networks, **runtime_options)
        self.signers = SignerLeases(list(self.runtimes.values()), ttl=lease_ttl, margin=lease_margin)

    async def start(self, nc: Client, replica: str) -> None:
        await self.signers.start(nc, replica)

    async def stop(self) -> None:
        await self.signers.stop()

    settle_readiness_varies = True  # a leased signer key

    def can_settle(self) -> bool:
        return self.signers.can_settle()

    def status(self) -> dict:
        return self.signers.status()

    def supported(self) -> SupportedPart:
        kinds = []
        signers: list[str] = []
        extensions: set[str] = set()
        for caip2, runtime in self.runtimes.items():
            asset = runtime.config.default_asset
            if asset is not None:
                extra = {"name": asset.name, "version": asset.version, "asset": asset.address}
                kinds.append(SupportedKind(x402_version=2, scheme=self.name, network=caip2, extra=extra))
            for token in sorted(runtime.config.allowed_assets):
                if asset is None or token != asset.address.lower():
                    extra = {"asset": eip3009.checksum_address(token)}
                    kinds.append(SupportedKind(x402_version=2, scheme=self.name, network=caip2, extra=extra))
            signers.extend(s.address for s in runtime.signers)
            extensions |= runtime.config.gas_sponsoring
        return SupportedPart(kinds=kinds, signers={"eip155:*": signers}, extensions=sorted(extensions))

    async def identify(self, request: VerifyRequest) -> Identity[Payment]:
        runtime = self.runtimes[request.payment_requirements.network]
        if permit2.is_permit2_payload(request.payment_payload.payload):
            return await verify_permit2.identify(runtime, request)
        return await verify.identify(runtime, request)

    async def verify(self, request: VerifyRequest, identity: Identity[Payment]) -> None:
        await _verify(request, identity.payment, simulate=True)

    async def verify_for_settle(self, request: VerifyRequest, identity: Identity[Payment]) -> GasPlan:
        # eth_estimateGas executes the same transfer as the simulation (diagnosed the same way on
        # revert), and settle needs its figure: it replaces the simulation.
        await _verify(request, identity.payment, simulate=False)
        return await settle.plan(identity.payment, self.signers.usable)

    async def prepare(
        self, request: VerifyRequest, identity: Identity[Payment], checked: GasPlan | None = None
    ) -> Prepared[EvmAttempt]:
        plan = checked
        if plan is None or not self.signers.usable(plan.signer.address):  # its key's lease lapsed meanwhile
            plan = await settle.plan(identity.payment, self.signers.usable)
        return await settle.sign(identity.payment, plan)

    async def discard(self, prepared: Prepared[EvmAttempt]) -> None:
        attempt = prepared.attempt
        attempt.signer.nonces.release(attempt.nonce)
        if attempt.funding is not None:
            attempt.signer.nonces.release(attempt.funding[0])

    async def broadcast(self, prepared: Prepared[EvmAttempt]) -> None:
        attempt = prepared.attempt
        if attempt.sponsoring is not None:
            try:
                await sponsor.send_first(
                    attempt.payment.runtime, attempt.signer, attempt.sponsoring, attempt.funding
                )
            except Rejected:
                await self.discard(prepared)  # the settlement is not sent: its nonce is free again
                raise
        await attempt.signer.nonces.send(attempt.nonce, prepared.transaction)

    async def confirm(self, prepared: Prepared[EvmAttempt], timeout: float) -> Outcome:
        attempt = prepared.attempt
        sender = (attempt.signer.address, attempt.nonce)
        return await confirm.settled(
            attempt.payment.runtime, prepared.transaction, timeout, attempt.payment, sender
        )

    async def resolve(self, submitted: Submitted, timeout: float) -> Outcome:
        runtime = self.runtimes[submitted.network]
        sender = confirm.recorded_sender(submitted)
        return await confirm.settled(runtime, submitted.transaction, timeout, None, sender)
