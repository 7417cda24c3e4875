"""The `exact` scheme on Nano: the payload is one signed state send block paying `payTo` exactly `amount` raw.

    payload = {"block": {type, account, previous, representative, balance, link, link_as_account,
                         signature, work}}      ("signedBlock" is accepted as the same key)

identify (no chain access, so forged blocks never reach the ledger claim): the block parses, its signature is
valid and canonical, the *signed* `link` is payTo's public key (`link_as_account` is not signed and is ignored),
its work meets the network threshold for its root. The payment id is the block hash: Nano's ledger accepts a
given block at most once, so a block can never pay twice.
verify (reads only): the account is opened, `previous` is its frontier (else: the block is on the ledger
already, or the frontier moved; only then is the block looked up) and that frontier is confirmed, and
confirmed balance - block balance is exactly `amount`.
broadcast: `process` (subtype send); confirm: `blocks_info` polling until the block is cemented.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from x402fac.nano import AddressError, BlockError, StateBlock, decode_address, encode_address, parse_block
from x402fac.protocol import Reason, SupportedKind, VerifyRequest
from x402fac.rpc import NodeUnavailable
from x402fac.worker import (
    Confirmation,
    Identity,
    Invalid,
    Outcome,
    Prepared,
    Rejected,
    Scheme,
    Submitted,
    SupportedPart,
)
from x402fac.worker.kinds import with_legacy

from .chain import ConfirmationWatcher, NanoNode, NodeError
from .config import NanoNetwork

T = TypeVar("T")

ASSET = "XNO"
BLOCK_KEYS = ("block", "signedBlock")  # the payload key of the two upstream drafts

# nano_node `process` refusals (nano/lib/errors.cpp) and what they mean for the payment.
_FORK = "Fork"
_OLD_BLOCK = "Old block"
_REFUSALS: dict[str, tuple[str, bool]] = {  # message -> (reason, retryable)
    _FORK: (Reason.FRONTIER_MOVED, False),
    "Gap previous block": (Reason.PROCESS_FAILED, True),  # this node lacks `previous`: another may have it
    "Block work is insufficient": (Reason.INVALID_WORK, False),
    "Block work is less than threshold": (Reason.INVALID_WORK, False),
    "Bad signature": (Reason.INVALID_SIGNATURE, False),
    "Balance and amount delta do not match": (Reason.PROCESS_FAILED, False),
    "Invalid block balance for given subtype": (Reason.AMOUNT_MISMATCH, False),
    "Block is invalid": (Reason.INVALID_BLOCK, False),
}


@dataclass(slots=True)
class NetworkRuntime:
    config: NanoNetwork
    node: NanoNode
    watcher: ConfirmationWatcher


class ExactNanoScheme(Scheme):
    name = "exact"

    def __init__(
        self, networks: list[NanoNetwork], rpc_timeout: float = 10.0, confirm_poll: float = 0.05
    ) -> None:
        self.runtimes: dict[str, NetworkRuntime] = {}
        for network in networks:
            node = NanoNode(network.rpc_urls, timeout=rpc_timeout)
            self.runtimes[network.network] = NetworkRuntime(
                network, node, ConfirmationWatcher(node, confirm_poll)
            )

    async def close(self) -> None:
        for runtime in self.runtimes.values():
            await runtime.watcher.close()
            await runtime.node.close()

    def networks(self) -> list[str]:
        return list(self.runtimes)

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
        return SupportedPart(kinds=with_legacy(kinds))

    # -- identify: everything the payload alone can tell ----------------------------------------------

    async def identify(self, request: VerifyRequest) -> Identity[StateBlock]:
        requirements = request.payment_requirements
        runtime = self.runtimes[requirements.network]
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
        if not block.signature_valid():
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
        return Identity(
            payment_id=block.hash.hex().upper(), payer=payer, amount=requirements.amount, payment=block
        )

    # -- verify: the chain's view ---------------------------------------------------------------------

    async def verify(self, request: VerifyRequest, identity: Identity[StateBlock]) -> None:
        runtime = self.runtimes[request.payment_requirements.network]
        block = identity.payment
        minimum = runtime.config.min_amount
        if int(identity.amount) < minimum:
            raise Invalid(
                Reason.AMOUNT_BELOW_MINIMUM,
                f"amount {identity.amount} raw is below the minimum {minimum} raw on {runtime.config.network}",
                identity.payer,
            )
        # One call in the common case: a block whose previous is the frontier cannot be on the ledger
        # yet, so whether it is (already settled) is asked only when the frontier moved on.
        state = await self._node_call(runtime.node.account_info(identity.payer), identity.payer)
        previous = block.previous.hex().upper()
        if state is None or previous != state["frontier"]:
            existing = await self._node_call(runtime.node.block_info(identity.payment_id), identity.payer)
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
        self._check_amount(int(state["confirmed_balance"]), block, int(identity.amount), identity.payer)

    @staticmethod
    async def _node_call(call: Awaitable[T], payer: str) -> T:
        try:
            return await call
        except NodeUnavailable as error:
            raise Invalid(Reason.NODE_UNAVAILABLE, str(error), payer) from None
        except NodeError as error:
            raise Invalid(Reason.NODE_UNAVAILABLE, f"node error: {error}", payer) from None

    @staticmethod
    def _check_amount(confirmed_balance: int, block: StateBlock, amount: int, payer: str) -> None:
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

    # -- settle ---------------------------------------------------------------------------------------

    async def prepare(
        self, request: VerifyRequest, identity: Identity[StateBlock], checked: None = None
    ) -> Prepared[StateBlock]:
        # The payer signed the block: it is published as it is, so its hash is known already.
        return Prepared(
            transaction=identity.payment_id,
            network=request.payment_requirements.network,
            attempt=identity.payment,
        )

    async def broadcast(self, prepared: Prepared[StateBlock]) -> None:
        node = self.runtimes[prepared.network].node
        try:
            block_hash = await node.process_send(prepared.attempt.to_json())
        except NodeUnavailable as error:
            if not error.maybe_delivered:
                raise Rejected(Reason.NODE_UNAVAILABLE, str(error), retryable=True) from None
            raise  # maybe processed: the pipeline keeps the record pending for reconciliation
        except NodeError as error:
            # A block already on the ledger (an earlier attempt) is refused as "Old block", or, because the node
            # checks the subtype against the account's new balance first, as "Invalid block balance for given
            # subtype": either way it is published, and confirm() gives the verdict.
            if error.message == _OLD_BLOCK or await self._on_ledger(node, prepared.transaction):
                return
            reason, retryable = _REFUSALS.get(error.message, (Reason.PROCESS_FAILED, True))
            raise Rejected(reason, f"node refused the block: {error.message}", retryable) from None
        if block_hash != prepared.transaction:
            raise RuntimeError(f"node processed {block_hash}, expected {prepared.transaction}")

    @staticmethod
    async def _on_ledger(node: NanoNode, block_hash: str) -> bool:
        try:
            return await node.block_info(block_hash) is not None
        except (NodeError, NodeUnavailable):
            return False

    async def confirm(self, prepared: Prepared[StateBlock], timeout: float) -> Outcome:
        return await self._settled(prepared.transaction, prepared.network, timeout)

    async def resolve(self, submitted: Submitted, timeout: float) -> Outcome:
        # A block hash is all the node needs: the block itself says whether it is on the ledger.
        return await self._settled(submitted.transaction, submitted.network, timeout)

    async def _settled(self, transaction: str, network: str, timeout: float) -> Outcome:
        runtime = self.runtimes[network]
        if await runtime.watcher.wait(transaction, timeout):
            return Outcome(Confirmation.CONFIRMED)
        try:
            present = await runtime.node.block_info(transaction)
        except (NodeError, NodeUnavailable) as error:
            return Outcome(Confirmation.PENDING, message=f"confirmation unknown: {error}")
        if present is None:
            # Not on the ledger (never processed, or rolled back after losing a fork): nothing was paid, and the
            # same block can still settle later only as itself, so it can never pay twice.
            return Outcome(
                Confirmation.DROPPED, Reason.PROCESS_FAILED, f"block {transaction} is not on the ledger"
            )
        if present.get("confirmed") == "true":
            return Outcome(Confirmation.CONFIRMED)
        return Outcome(
            Confirmation.PENDING, message=f"block {transaction} not confirmed within {timeout:.1f}s"
        )
