"""The `exact` scheme on Nano: the payload is one signed state send block paying `payTo` exactly `amount` raw.

    payload = {"block": {type, account, previous, representative, balance, link, link_as_account,
                         signature, work}}      ("signedBlock" is accepted as the same key)

identify (no chain access, so forged blocks never reach the ledger claim): the block parses, its signature is
valid and canonical, the *signed* `link` is payTo's public key (`link_as_account` is not signed and is ignored),
its work meets the network threshold for its root. The payment id is the block hash: Nano's ledger accepts a
given block at most once, so a block can never pay twice.
verify (reads only): `previous` is the payer's frontier and confirmed, and confirmed balance - block balance is
exactly `amount`; read from `previous` itself (batched `blocks_info`: the payer's block, no successor), and only
when that does not hold from `account_info` and the block (already on the ledger, frontier moved, not opened).
broadcast: `process` (subtype send); confirm: batched `blocks_info`, first asked when confirmations usually
have arrived, until the block is cemented.

The scheme the worker wires, each job in its own module, named as in x402fac.worker_evm: `runtime`
(per-network node and watcher), `verify` (identify and verify), `settle` (publish), `confirm` (the
chain's verdict). Nano has no facilitator key, so no `signers`.
"""

from __future__ import annotations

from x402fac.protocol import SupportedKind, VerifyRequest
from x402fac.worker import Identity, NetworkScheme, Outcome, Prepared, Submitted, SupportedPart

from . import confirm, settle, verify
from .runtime import NanoPayment, NanoRuntime
from .verify import ASSET


class ExactNanoScheme(NetworkScheme[NanoRuntime, NanoPayment, NanoPayment]):
    name = "exact"
    runtime_type = NanoRuntime

    def supported(self) -> SupportedPart:
        kinds = [
            SupportedKind(
                x402_version=2,
                scheme=self.name,
                network=network,
                extra={
                    "asset": ASSET,
                    "work": "required",
                    "workThreshold": runtime.config.work_threshold_hex,
                },
            )
            for network, runtime in self.runtimes.items()
        ]
        return SupportedPart(kinds=kinds)

    async def identify(self, request: VerifyRequest) -> Identity[NanoPayment]:
        return await verify.identify(self.runtimes[request.payment_requirements.network], request)

    async def verify(self, request: VerifyRequest, identity: Identity[NanoPayment]) -> None:
        await verify.verify(self.runtimes[request.payment_requirements.network], identity)

    async def prepare(
        self, request: VerifyRequest, identity: Identity[NanoPayment], checked: None = None
    ) -> Prepared[NanoPayment]:
        return settle.prepare(identity.payment, identity.payment_id, request.payment_requirements.network)

    async def broadcast(self, prepared: Prepared[NanoPayment]) -> None:
        await settle.broadcast(self.runtimes[prepared.network], prepared)

    async def confirm(self, prepared: Prepared[NanoPayment], timeout: float) -> Outcome:
        return await confirm.settled(self.runtimes[prepared.network], prepared.transaction, timeout)

    async def resolve(self, submitted: Submitted, timeout: float) -> Outcome:
        return await confirm.settled(self.runtimes[submitted.network], submitted.transaction, timeout)
