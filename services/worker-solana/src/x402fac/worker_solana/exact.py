"""The `exact` scheme on Solana: an SPL TransferChecked the payer signed, the facilitator pays the fee.

verify reads only (accounts, lookup tables, a simulation); settle signs the fee-payer slot, sends,
and waits for `confirmed`. The generic pipeline (x402fac.worker) owns claims, limits and answers.

The scheme the worker wires, each job in its own module, named as in x402fac.worker_evm: `runtime`
(per-network client, watcher, fee payers, caches), `verify` (identify and verify), `settle` (co-sign
and send), `confirm` (the chain's verdict). Fee payers carry no sequence number, so every replica
may use every key: no `signers` leases.
"""

from __future__ import annotations

from x402fac.protocol import SupportedKind, VerifyRequest
from x402fac.worker import Identity, NetworkScheme, Outcome, Prepared, Submitted, SupportedPart

from . import confirm, settle, verify
from .runtime import SolanaRuntime
from .settle import SolanaAttempt
from .transaction import SolanaPayment


class ExactSolanaScheme(NetworkScheme[SolanaRuntime, SolanaPayment, SolanaAttempt]):
    name = "exact"
    runtime_type = SolanaRuntime

    def supported(self) -> SupportedPart:
        kinds = []
        signers: list[str] = []
        for caip2, runtime in self.runtimes.items():
            addresses = runtime.config.fee_payer_addresses
            signers.extend(a for a in addresses if a not in signers)
            extra: dict = {"feePayer": addresses[0]}
            if runtime.config.assets is not None:
                extra["assets"] = sorted(runtime.config.assets)  # the only mints settled here
            kinds.append(SupportedKind(x402_version=2, scheme=self.name, network=caip2, extra=extra))
        return SupportedPart(kinds=kinds, signers={"solana:*": signers})

    async def identify(self, request: VerifyRequest) -> Identity[SolanaPayment]:
        return await verify.identify(self.runtimes[request.payment_requirements.network], request)

    async def verify(self, request: VerifyRequest, identity: Identity[SolanaPayment]) -> None:
        await verify.verify(self.runtimes[request.payment_requirements.network], request, identity)

    async def prepare(
        self, request: VerifyRequest, identity: Identity[SolanaPayment], checked: None = None
    ) -> Prepared[SolanaAttempt]:
        return settle.prepare(self.runtimes[request.payment_requirements.network], identity.payment)

    async def broadcast(self, prepared: Prepared[SolanaAttempt]) -> None:
        await settle.broadcast(self.runtimes[prepared.network], prepared)

    async def confirm(self, prepared: Prepared[SolanaAttempt], timeout: float) -> Outcome:
        runtime = self.runtimes[prepared.network]
        return await confirm.settled(
            runtime, prepared.transaction, timeout, prepared.attempt.blockhash, just_sent=True
        )

    async def resolve(self, submitted: Submitted, timeout: float) -> Outcome:
        runtime = self.runtimes[submitted.network]
        blockhash = submitted.hint or runtime.blockhashes.get(submitted.transaction)
        return await confirm.settled(runtime, submitted.transaction, timeout, blockhash)
