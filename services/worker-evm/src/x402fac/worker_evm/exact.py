"""The `exact` scheme on EVM networks: EIP-3009 `transferWithAuthorization`, sent by our signers.

identify (before the ledger, no RPC until the signature check): listed asset (`unsupported_asset`
unless the network opted into any EIP-3009 token) -> amount at least the network's minimum ->
EIP-712 domain present in `extra` -> signature (EOA recovery locally; a payer holding code is asked
through ERC-1271).
verify (reads only), in the order of the official x402 facilitator: recipient -> amount ->
validBefore (6 s margin) -> validAfter -> asset is a contract (an unlisted one must also answer
EIP-3009's `authorizationState` and `DOMAIN_SEPARATOR` sanely) -> simulation of the transfer
(eth_call carrying the fee fields the settlement will carry), whose failure is diagnosed from the
token's state.
settle: the gas limit the transaction will carry, proven by executing the transfer with it and the
same fee fields (a token that only succeeds at gas price 0 fails here): an eth_call at the most gas
this token's transfers were found to need (+ margin), or gas estimation the first time and whenever
that call fails; then gas limit * maxFeePerGas against the network's cost ceiling, before anything
is signed.
(Scheme, network and the `accepted` binding are checked by the generic pipeline before.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from x402fac.bus import subjects
from x402fac.protocol import Reason, SupportedKind, VerifyRequest
from x402fac.telemetry import SIGNER_GAS_BALANCE, SIGNER_KEYS_HELD
from x402fac.telemetry.metrics import REVERTED_SETTLEMENT_GAS
from x402fac.worker import (
    Confirmation,
    Identity,
    Invalid,
    Outcome,
    Prepared,
    Scheme,
    Submitted,
    SupportedPart,
    Unready,
)
from x402fac.worker.kinds import with_legacy
from x402fac.worker.leases import LeasePool
from x402fac.worker.rpc import NodeUnavailable

from . import eip3009
from .chain import EvmRpc, ReceiptWatcher, RpcError
from .config import NetworkConfig
from .eip3009 import Authorization, PayloadError
from .nonces import Fees, Signer

VALID_BEFORE_MARGIN = 6  # seconds the authorization must still be valid for, as the official SDK
FEE_CACHE_SECONDS = 1.0
FALLBACK_PRIORITY_FEE = 1_000_000  # 0.001 gwei, when the node has no eth_maxPriorityFeePerGas
GAS_BALANCE_INTERVAL_SECONDS = 30.0
GAS_NEEDS_KEPT = 1_000  # tokens whose gas need is remembered (any-asset networks meet many)
COUNTED_REVERTS = 10_000  # reverted transactions remembered so that their gas is counted once


async def _leases_bucket(nc: Client, attempts: int = 100) -> KeyValue:
    """The ledger declares the lease bucket: a worker started first waits for it."""
    for _ in range(attempts):
        try:
            return await nc.jetstream().key_value(subjects.LEASES_BUCKET)
        except BucketNotFoundError:
            await asyncio.sleep(0.2)
    raise RuntimeError(f"bucket {subjects.LEASES_BUCKET} not found: is the ledger running?")


class EvmNetwork:
    """What the scheme keeps per network: RPC client, receipt poller, signers, fee and code caches."""

    def __init__(self, config: NetworkConfig) -> None:
        self.config = config
        self.rpc = EvmRpc(list(config.rpc_urls), timeout=config.rpc_timeout)
        REVERTED_SETTLEMENT_GAS.labels("evm", config.network)  # exported at 0 until gas is burnt
        self.receipts = ReceiptWatcher(self.rpc, interval=config.receipt_poll_interval)
        self.signers = [Signer(self.rpc, config.chain_id, key, self.fees) for key in config.signer_keys]
        self._contracts: set[str] = set()  # addresses known to hold code
        self._eip3009: set[str] = set()  # unlisted tokens that passed the EIP-3009 check
        self._reverts_counted: dict[str, None] = {}
        self._fees: Fees | None = None
        self._fees_at = 0.0
        self._fees_refresh: asyncio.Future | None = None
        # The most gas a transfer of each token was estimated to need here.
        self.gas_needed: dict[str, int] = {}

    def pick_signer(self, usable: Callable[[str], bool]) -> Signer:
        """The least busy signer this replica may use now (one whose key it holds a lease on)."""
        mine = [signer for signer in self.signers if usable(signer.address)]
        if not mine:
            raise Unready(f"this replica holds no signer key for {self.config.network} now")
        return min(mine, key=lambda signer: signer.nonces.in_flight)

    def signer_of(self, tx_hash: str) -> Signer | None:
        for signer in self.signers:
            if signer.nonces.nonce_of(tx_hash) is not None:
                return signer
        return None

    async def fees(self) -> Fees:
        if self._fees is not None and time.monotonic() - self._fees_at < FEE_CACHE_SECONDS:
            return self._fees
        if self._fees_refresh is None or self._fees_refresh.done():
            self._fees_refresh = asyncio.ensure_future(self._fetch_fees())
        return await asyncio.shield(self._fees_refresh)

    async def _fetch_fees(self) -> Fees:
        block, tip = await self.rpc.batch(
            [("eth_getBlockByNumber", ["latest", False]), ("eth_maxPriorityFeePerGas", [])]
        )
        if isinstance(block, RpcError):
            raise block
        priority = FALLBACK_PRIORITY_FEE if isinstance(tip, RpcError) else int(tip, 16)
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        self._fees = Fees(max_fee_per_gas=2 * base + priority, max_priority_fee_per_gas=priority)
        self._fees_at = time.monotonic()
        return self._fees

    def known_contract(self, address: str) -> bool:
        return address.lower() in self._contracts

    def remember_contract(self, address: str) -> None:
        self._contracts.add(address.lower())

    def listed(self, token: str) -> bool:
        return token.lower() in self.config.listed_assets

    def known_eip3009(self, token: str) -> bool:
        return token.lower() in self._eip3009

    def remember_eip3009(self, token: str) -> None:
        self._eip3009.add(token.lower())

    def count_revert(self, transaction: str, gas_used: int) -> None:
        """Gas burnt by a reverted settlement, counted once however often its receipt is read."""
        if transaction in self._reverts_counted:
            return
        self._reverts_counted[transaction] = None
        if len(self._reverts_counted) > COUNTED_REVERTS:
            del self._reverts_counted[next(iter(self._reverts_counted))]
        REVERTED_SETTLEMENT_GAS.labels("evm", self.config.network).inc(gas_used)

    def fee_fields(self, fees: Fees, gas: int) -> dict[str, str]:
        """What a call or estimate needs to run as the settlement will: its gas and fee fields."""
        return {
            "gas": hex(gas),
            "maxFeePerGas": hex(fees.max_fee_per_gas),
            "maxPriorityFeePerGas": hex(fees.max_priority_fee_per_gas),
        }

    async def close(self) -> None:
        for signer in self.signers:
            await signer.nonces.close()
        await self.receipts.close()
        await self.rpc.close()


@dataclass(frozen=True, slots=True)
class GasPlan:
    """How a payment will be sent: found by executing it (eth_estimateGas) as it will run."""

    signer: Signer
    fees: Fees
    gas: int


@dataclass(slots=True)
class EvmPayment:
    """An authorization decoded and authenticated by `identify`: everything verify and settle need."""

    network: EvmNetwork
    token: str
    name: str  # EIP-712 domain of the token, from extra
    version: str
    authorization: Authorization
    signature: bytes
    calldata: bytes
    plan: GasPlan | None = None  # found by verify_for_settle, while the ledger claims the payment


@dataclass(frozen=True, slots=True)
class EvmAttempt:
    """One signed transaction of ours carrying a payment."""

    payment: EvmPayment
    signer: Signer
    nonce: int


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _unavailable(exc: NodeUnavailable) -> Invalid:
    return Invalid(Reason.NODE_UNAVAILABLE, str(exc))


class ExactEvmScheme(Scheme):
    name = "exact"

    def __init__(
        self, networks: list[NetworkConfig], *, lease_ttl: float = 15.0, lease_margin: float = 3.0
    ) -> None:
        self._networks = {config.network: EvmNetwork(config) for config in networks}
        self.lease_ttl, self.lease_margin = lease_ttl, lease_margin
        # Without NATS (a scheme used on its own) every key is this process's; a worker replica leases
        # its keys from the pool shared with the other replicas (see start).
        self.pool: LeasePool | None = None
        self._balances: asyncio.Task | None = None

    def _usable(self, address: str) -> bool:
        return self.pool is None or self.pool.usable(address)

    async def start(self, nc: Client, replica: str) -> None:
        addresses = sorted({s.address for network in self._networks.values() for s in network.signers})
        if not addresses:
            return
        for network in self._networks.values():
            for signer in network.signers:
                signer.nonces.may_send = lambda address=signer.address: self._usable(address)
        kv = await _leases_bucket(nc)
        self.pool = LeasePool(
            kv,
            "evm-signers",
            addresses,
            replica,
            ttl=self.lease_ttl,
            margin=self.lease_margin,
            on_acquired=self._took_over,
        )
        await self.pool.start()
        self._balances = asyncio.create_task(self._watch_gas_balances())

    async def _watch_gas_balances(self) -> None:
        """The native balance of each signer this replica holds: it pays the gas of every settle."""
        while True:
            for network in self._networks.values():
                held = [s for s in network.signers if self._usable(s.address)]
                if not held:
                    continue
                try:
                    balances = await network.rpc.batch(
                        [("eth_getBalance", [signer.address, "latest"]) for signer in held]
                    )
                except NodeUnavailable:
                    continue
                for signer, balance in zip(held, balances, strict=True):
                    if isinstance(balance, str):
                        SIGNER_GAS_BALANCE.labels(network.config.network, signer.address).set(
                            int(balance, 16)
                        )
            await asyncio.sleep(GAS_BALANCE_INTERVAL_SECONDS)

    def _took_over(self, address: str) -> None:
        """Another replica may have used this key: its nonce is read from the chain again."""
        for network in self._networks.values():
            for signer in network.signers:
                if signer.address == address:
                    signer.nonces.resync_later()

    async def stop(self) -> None:
        if self._balances is not None:
            self._balances.cancel()
        if self.pool is not None:
            await self.pool.stop()

    def can_settle(self) -> bool:
        held = self.pool.usable_keys() if self.pool is not None else None
        SIGNER_KEYS_HELD.labels("evm").set(len(held) if held is not None else len(self._all_signers()))
        return held is None or bool(held)

    def status(self) -> dict:
        pool = self._all_signers()
        held = self.pool.usable_keys() if self.pool is not None else pool
        return {"signers": {"held": held, "pool": len(pool)}}

    def _all_signers(self) -> list[str]:
        return sorted({s.address for network in self._networks.values() for s in network.signers})

    def networks(self) -> list[str]:
        return list(self._networks)

    def network(self, caip2: str) -> EvmNetwork:
        return self._networks[caip2]

    async def close(self) -> None:
        for network in self._networks.values():
            await network.close()

    def supported(self) -> SupportedPart:
        kinds = []
        signers: list[str] = []
        for caip2, network in self._networks.items():
            asset = network.config.default_asset
            if asset is not None:
                extra = {"name": asset.name, "version": asset.version, "asset": asset.address}
                kinds.append(SupportedKind(x402_version=2, scheme=self.name, network=caip2, extra=extra))
            for token in sorted(network.config.allowed_assets):
                if asset is None or token != asset.address.lower():
                    extra = {"asset": eip3009.checksum_address(token)}
                    kinds.append(SupportedKind(x402_version=2, scheme=self.name, network=caip2, extra=extra))
            signers.extend(s.address for s in network.signers)
        return SupportedPart(kinds=with_legacy(kinds), signers={"eip155:*": signers})

    # ---- identify / verify ----------------------------------------------------------------------

    async def identify(self, request: VerifyRequest) -> Identity[EvmPayment]:
        """Decode the authorization and check its signature (EOA locally, a contract wallet through
        ERC-1271), all before the ledger is touched."""
        requirements = request.payment_requirements
        network = self._networks[requirements.network]
        try:
            authorization, signature = eip3009.parse_payload(request.payment_payload.payload)
        except PayloadError as exc:
            raise Invalid(Reason.INVALID_PAYLOAD, str(exc)) from None
        token = requirements.asset
        if not eip3009.is_address(token):
            raise Invalid(Reason.INVALID_PAYLOAD, "paymentRequirements.asset is not a token address")
        config = network.config
        if not (network.listed(token) or config.any_asset):
            raise Invalid(Reason.UNSUPPORTED_ASSET, f"asset {token} is not accepted on {config.network}")
        minimum = config.min_amount_of(token)
        if int(requirements.amount) < minimum:  # AtomicAmount: decimal digits, checked on the wire
            raise Invalid(
                Reason.AMOUNT_BELOW_MINIMUM,
                f"amount {requirements.amount} is below the minimum {minimum} for {token} on {config.network}",
            )
        extra = requirements.extra or {}
        name, version = extra.get("name"), extra.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            raise Invalid(
                Reason.MISSING_EIP712_DOMAIN,
                "paymentRequirements.extra must carry the token's EIP-712 name and version",
            )
        separator = eip3009.domain_separator(name, version, network.config.chain_id, token)
        digest = eip3009.authorization_digest(authorization, separator)
        try:
            await self._check_signature(network, authorization, digest, signature)
        except NodeUnavailable as exc:
            raise _unavailable(exc) from None
        payment_id = "/".join(
            (
                str(network.config.chain_id),
                token.lower(),
                authorization.from_address.lower(),
                _hex(authorization.nonce),
            )
        )
        payment = EvmPayment(
            network=network,
            token=token,
            name=name,
            version=version,
            authorization=authorization,
            signature=signature,
            calldata=eip3009.transfer_calldata(authorization, signature),
        )
        return Identity(
            payment_id=payment_id,
            payer=authorization.from_address,
            amount=requirements.amount,
            payment=payment,
        )

    async def verify(self, request: VerifyRequest, identity: Identity[EvmPayment]) -> None:
        await self._verify(request, identity.payment, simulate=True)

    async def verify_for_settle(self, request: VerifyRequest, identity: Identity[EvmPayment]) -> None:
        # eth_estimateGas executes the same transfer as the simulation (diagnosed the same way on
        # revert), and settle needs its figure: it replaces the simulation.
        await self._verify(request, identity.payment, simulate=False)
        identity.payment.plan = await self._plan(identity.payment)

    async def _verify(self, request: VerifyRequest, payment: EvmPayment, *, simulate: bool) -> None:
        requirements = request.payment_requirements
        authorization = payment.authorization
        if authorization.to.lower() != requirements.pay_to.lower():
            raise Invalid(
                Reason.RECIPIENT_MISMATCH,
                f"authorization.to is {authorization.to}, payTo is {requirements.pay_to}",
            )
        required = int(requirements.amount)
        if authorization.value < required:
            raise Invalid(
                Reason.AMOUNT_TOO_LOW, f"authorization.value {authorization.value} < amount {required}"
            )
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
            raise Invalid(
                Reason.NOT_YET_VALID, f"validAfter {authorization.valid_after} is after now ({now})"
            )
        try:
            await self._check_token(payment, simulate)
        except NodeUnavailable as exc:
            raise _unavailable(exc) from None

    async def _check_signature(
        self, network: EvmNetwork, authorization: Authorization, digest: bytes, signature: bytes
    ) -> None:
        if signature.endswith(eip3009.ERC6492_SUFFIX):
            raise Invalid(
                Reason.INVALID_SIGNATURE, "ERC-6492 (counterfactual wallet) signatures are not supported"
            )
        if eip3009.recover_signer(digest, signature) == authorization.from_address:
            return
        payer = authorization.from_address
        code, answer = await network.rpc.batch(
            [
                ("eth_getCode", [payer, "latest"]),
                (
                    "eth_call",
                    [
                        {"to": payer, "data": _hex(eip3009.is_valid_signature_calldata(digest, signature))},
                        "latest",
                    ],
                ),
            ]
        )
        if isinstance(code, RpcError):
            raise Invalid(Reason.INVALID_SIGNATURE, f"could not read the payer's code: {code.message}")
        if code in ("0x", "0x0", None):
            raise Invalid(Reason.INVALID_SIGNATURE, "the signature does not recover to authorization.from")
        if isinstance(answer, str) and bytes.fromhex(answer[2:])[:4] == eip3009.ERC1271_MAGIC_VALUE:
            return
        raise Invalid(Reason.INVALID_SIGNATURE, "the payer contract (ERC-1271) rejected the signature")

    async def _check_token(self, payment: EvmPayment, simulate: bool) -> None:
        """The asset is a contract (an unlisted one also an EIP-3009 token), and (when `simulate`) the
        transfer would execute with the fee fields the settlement will carry: one batch."""
        network, token, authorization = payment.network, payment.token, payment.authorization
        calls: list[tuple[str, list]] = []
        # Decided once per call: other verifies run meanwhile.
        check_code = not network.known_contract(token)
        check_eip3009 = not network.listed(token) and not network.known_eip3009(token)
        if check_code:
            calls.append(("eth_getCode", [token, "latest"]))
        if check_eip3009:
            state = eip3009.authorization_state_calldata(authorization.from_address, authorization.nonce)
            calls.append(("eth_call", [{"to": token, "data": _hex(state)}, "latest"]))
            calls.append(
                ("eth_call", [{"to": token, "data": _hex(eip3009.SELECTORS["DOMAIN_SEPARATOR"])}, "latest"])
            )
        if simulate:
            try:
                fees = await network.fees()
            except RpcError as exc:
                raise Invalid(
                    Reason.SIMULATION_FAILED, f"could not read the network's fees: {exc.message}"
                ) from None
            call = {
                "from": network.signers[0].address,
                "to": token,
                "data": _hex(payment.calldata),
                **network.fee_fields(fees, network.config.gas_limit),
            }
            calls.append(("eth_call", [call, "latest"]))
        results = await network.rpc.batch(calls)
        if check_code:
            code = results.pop(0)
            if isinstance(code, RpcError) or code in ("0x", "0x0", None):
                raise Invalid(
                    Reason.ASSET_NOT_A_CONTRACT, f"no contract at asset {token} on {network.config.network}"
                )
            network.remember_contract(token)
        if check_eip3009:
            state, separator = results.pop(0), results.pop(0)
            self._check_eip3009(payment, state, separator)
            network.remember_eip3009(token)
        if not simulate:
            return
        (result,) = results
        if not isinstance(result, RpcError):
            return
        if not result.is_revert:
            raise Invalid(
                Reason.SIMULATION_FAILED, f"simulating transferWithAuthorization failed: {result.message}"
            )
        revert = eip3009.decode_revert(result.revert_data or b"") or result.message
        raise await self._diagnose(payment, revert)

    def _check_eip3009(self, payment: EvmPayment, state: object, separator: object) -> None:
        """An unlisted token (the network opted into any EIP-3009 token) must answer EIP-3009's views
        as one does: `authorizationState` a boolean word, `DOMAIN_SEPARATOR` the domain of `extra`."""
        token, network = payment.token, payment.network
        if not (isinstance(state, str) and len(state) == 66 and int(state, 16) in (0, 1)):
            raise Invalid(
                Reason.UNSUPPORTED_ASSET, f"asset {token} does not answer EIP-3009 authorizationState"
            )
        if not (isinstance(separator, str) and len(separator) == 66):
            raise Invalid(Reason.UNSUPPORTED_ASSET, f"asset {token} has no EIP-712 DOMAIN_SEPARATOR")
        ours = eip3009.domain_separator(payment.name, payment.version, network.config.chain_id, token)
        if bytes.fromhex(separator[2:]) != ours:
            raise Invalid(
                Reason.TOKEN_DOMAIN_MISMATCH,
                "the token's EIP-712 domain separator differs from the one built from extra/chain id/asset",
            )

    async def _diagnose(self, payment: EvmPayment, revert: str) -> Invalid:
        """The most precise reason a simulated transfer reverts, from the token's own state."""
        network, token, authorization = payment.network, payment.token, payment.authorization
        name, version = payment.name, payment.version
        state, token_name, token_version, balance, separator = await network.rpc.batch(
            [
                (
                    "eth_call",
                    [
                        {
                            "to": token,
                            "data": _hex(
                                eip3009.authorization_state_calldata(
                                    authorization.from_address, authorization.nonce
                                )
                            ),
                        },
                        "latest",
                    ],
                ),
                ("eth_call", [{"to": token, "data": _hex(eip3009.SELECTORS["name"])}, "latest"]),
                ("eth_call", [{"to": token, "data": _hex(eip3009.SELECTORS["version"])}, "latest"]),
                (
                    "eth_call",
                    [
                        {"to": token, "data": _hex(eip3009.balance_of_calldata(authorization.from_address))},
                        "latest",
                    ],
                ),
                ("eth_call", [{"to": token, "data": _hex(eip3009.SELECTORS["DOMAIN_SEPARATOR"])}, "latest"]),
            ]
        )
        lowered = revert.lower()
        if isinstance(state, str) and len(state) >= 66 and int(state[2:66], 16) != 0:
            return Invalid(
                Reason.NONCE_ALREADY_USED, f"authorization {_hex(authorization.nonce)} was already used"
            )
        if isinstance(state, RpcError):
            return Invalid(
                Reason.SIMULATION_FAILED, f"asset {token} does not look like an EIP-3009 token: {revert}"
            )
        actual_name = (
            eip3009.decode_string(bytes.fromhex(token_name[2:])) if isinstance(token_name, str) else None
        )
        if actual_name is not None and actual_name != name:
            return Invalid(
                Reason.TOKEN_DOMAIN_MISMATCH, f"token name is {actual_name!r} but extra.name is {name!r}"
            )
        actual_version = (
            eip3009.decode_string(bytes.fromhex(token_version[2:]))
            if isinstance(token_version, str)
            else None
        )
        if actual_version is not None and actual_version != version:
            return Invalid(
                Reason.TOKEN_DOMAIN_MISMATCH,
                f"token version is {actual_version!r} but extra.version is {version!r}",
            )
        if isinstance(balance, str) and len(balance) >= 66 and int(balance[2:66], 16) < authorization.value:
            return Invalid(
                Reason.INSUFFICIENT_BALANCE,
                f"balance {int(balance[2:66], 16)} < value {authorization.value}",
            )
        if "invalid signature" in lowered and isinstance(separator, str) and len(separator) >= 66:
            ours = eip3009.domain_separator(name, version, network.config.chain_id, token)
            if bytes.fromhex(separator[2:66]) != ours:
                return Invalid(
                    Reason.TOKEN_DOMAIN_MISMATCH,
                    "the token's EIP-712 domain separator differs from the one built from extra/chain id/asset",
                )
        for needle, reason in (
            ("authorization is used", Reason.NONCE_ALREADY_USED),
            ("authorization is expired", Reason.EXPIRED),
            ("authorization is not yet valid", Reason.NOT_YET_VALID),
            ("exceeds balance", Reason.INSUFFICIENT_BALANCE),
            ("invalid signature", Reason.INVALID_SIGNATURE),
        ):
            if needle in lowered:
                return Invalid(reason, f"transferWithAuthorization would revert: {revert}")
        return Invalid(
            Reason.SIMULATION_FAILED, f"transferWithAuthorization would revert: {revert or 'no reason'}"
        )

    # ---- settle -----------------------------------------------------------------------------------

    async def prepare(self, request: VerifyRequest, identity: Identity[EvmPayment]) -> Prepared[EvmAttempt]:
        payment = identity.payment
        plan = payment.plan
        if plan is None or not self._usable(plan.signer.address):  # its key's lease lapsed meanwhile
            plan = await self._plan(payment)
        signer = plan.signer
        nonce = await signer.nonces.reserve()
        try:
            tx_hash, raw = signer.sign(nonce, payment.token, payment.calldata, plan.gas, plan.fees)
            signer.nonces.attach(nonce, tx_hash, raw)
        except BaseException:
            signer.nonces.release(nonce)
            raise
        # Another process judging this record later needs the sender and nonce (see _unmined).
        return Prepared(
            transaction=tx_hash,
            network=payment.network.config.network,
            attempt=EvmAttempt(payment, signer, nonce),
            hint=f"{signer.address}/{nonce}",
        )

    async def _plan(self, payment: EvmPayment) -> GasPlan:
        """The signer, fees and gas for sending `payment`, within the network's gas and cost ceilings."""
        network = payment.network
        signer = network.pick_signer(self._usable)
        config = network.config
        try:
            fees = await network.fees()
            # The signer's nonce check (when it is idle) rides along instead of delaying the send.
            gas, _ = await asyncio.gather(self._gas(payment, signer, fees), signer.nonces.refresh())
        except NodeUnavailable as exc:
            raise _unavailable(exc) from None
        cost = gas * fees.max_fee_per_gas
        if cost > config.max_settle_cost_wei:
            # Nothing is signed or sent; the claim is released, so the same payment may settle later.
            raise Invalid(
                Reason.FEE_TOO_HIGH,
                f"settling would cost up to {cost} wei ({gas} gas at {fees.max_fee_per_gas} wei), above"
                f" the ceiling {config.max_settle_cost_wei} on {config.network}; retry later",
            )
        return GasPlan(signer, fees, gas)

    async def _gas(self, payment: EvmPayment, signer: Signer, fees: Fees) -> int:
        """A gas limit the transfer succeeds with, shown by executing it as it will run (sender, fee
        fields, that limit): one execution (eth_call) when the token's need is known, else estimation."""
        network, config = payment.network, payment.network.config
        call = {"from": signer.address, "to": payment.token, "data": _hex(payment.calldata)}
        token = payment.token.lower()
        known = network.gas_needed.get(token)
        if known is not None:
            gas = min(known * (100 + config.gas_margin_percent) // 100, config.gas_limit)
            # a read: it shares its HTTP request with the nonce check beside it, and with other settles
            (executed,) = await network.rpc.batch(
                [("eth_call", [{**call, **network.fee_fields(fees, gas)}, "latest"])]
            )
            if not isinstance(executed, RpcError):
                return gas
            # else not with that much gas, or not at all: estimation tells which, and why
        try:
            estimate = await network.rpc.call(
                "eth_estimateGas", {**call, **network.fee_fields(fees, config.gas_limit)}
            )
        except RpcError as exc:
            if exc.is_revert:  # the chain moved since verify (e.g. the authorization was just used)
                revert = eip3009.decode_revert(exc.revert_data or b"") or exc.message
                raise await self._diagnose(payment, revert) from None
            raise Invalid(Reason.SIMULATION_FAILED, f"gas estimation failed: {exc.message}") from None
        needed = int(estimate, 16)
        if needed > config.gas_limit:
            raise Invalid(
                Reason.SIMULATION_FAILED,
                f"the transfer needs {needed} gas, above the limit {config.gas_limit}",
            )
        if token in network.gas_needed or len(network.gas_needed) < GAS_NEEDS_KEPT:
            network.gas_needed[token] = max(needed, network.gas_needed.get(token, 0))
        return min(needed * (100 + config.gas_margin_percent) // 100, config.gas_limit)

    async def discard(self, prepared: Prepared[EvmAttempt]) -> None:
        prepared.attempt.signer.nonces.release(prepared.attempt.nonce)

    async def broadcast(self, prepared: Prepared[EvmAttempt]) -> None:
        await prepared.attempt.signer.nonces.send(prepared.attempt.nonce, prepared.transaction)

    async def confirm(self, prepared: Prepared[EvmAttempt], timeout: float) -> Outcome:
        attempt = prepared.attempt
        sender = (attempt.signer.address, attempt.nonce)
        return await self._settled(
            attempt.payment.network, prepared.transaction, timeout, attempt.payment, sender
        )

    async def resolve(self, submitted: Submitted, timeout: float) -> Outcome:
        sender = None
        if "/" in submitted.hint:  # "address/nonce", stored by the process that signed it
            address, _, nonce_text = submitted.hint.partition("/")
            sender = (address, int(nonce_text))
        runtime = self._networks[submitted.network]
        return await self._settled(runtime, submitted.transaction, timeout, None, sender)

    async def _settled(
        self,
        runtime: EvmNetwork,
        transaction: str,
        timeout: float,
        payment: EvmPayment | None,
        sender: tuple[str, int] | None,
    ) -> Outcome:
        """The chain's verdict on `transaction`, waiting up to `timeout` for its receipt."""
        try:
            receipt = await runtime.receipts.wait(transaction, timeout)
            if receipt is None:
                return await self._unmined(runtime, transaction, sender)
            signer = runtime.signer_of(transaction)
            if signer is not None:
                signer.nonces.mined(transaction)
            if runtime.config.confirmations > 1:
                receipt = await self._await_depth(runtime, transaction, receipt, timeout)
                if receipt is None:
                    return Outcome(Confirmation.PENDING, message=f"{transaction} awaits confirmations")
            if receipt.get("status") == "0x1":
                return self._check_transfer(receipt, payment)
            runtime.count_revert(transaction, int(receipt.get("gasUsed") or "0x0", 16))
            return Outcome(
                Confirmation.FAILED,
                Reason.SETTLEMENT_FAILED,
                await self._revert_cause(runtime, transaction, receipt),
            )
        except (NodeUnavailable, RpcError) as exc:
            return Outcome(Confirmation.PENDING, message=f"node unavailable: {exc}")

    def _check_transfer(self, receipt: dict, payment: EvmPayment | None) -> Outcome:
        logs = receipt.get("logs") or []
        if payment is not None:
            found = eip3009.has_transfer_log(logs, payment.token, payment.authorization)
        else:  # reconciling without the payment: any Transfer emitted by the called token
            token = (receipt.get("to") or "").lower()
            found = any(
                entry.get("address", "").lower() == token
                and (entry.get("topics") or [""])[0] == eip3009.TRANSFER_TOPIC
                for entry in logs
            )
        if found:
            return Outcome(Confirmation.CONFIRMED)
        return Outcome(
            Confirmation.FAILED, Reason.SETTLEMENT_FAILED, "mined without the expected Transfer log"
        )

    async def _unmined(
        self, runtime: EvmNetwork, transaction: str, sender_nonce: tuple[str, int] | None
    ) -> Outcome:
        """No receipt yet: pending, unless the transaction provably can never be mined."""
        for signer in runtime.signers:
            if signer.nonces.abandoned(transaction):
                return Outcome(
                    Confirmation.DROPPED,
                    Reason.SETTLEMENT_FAILED,
                    "the transaction was never broadcast and its nonce went to another one",
                )
        signer = runtime.signer_of(transaction)
        sender, nonce = (signer.address, signer.nonces.nonce_of(transaction)) if signer else (None, None)
        if sender is None and sender_nonce is not None:
            sender, nonce = sender_nonce  # a record from another process: the hint it stored
        if sender is None:
            known = await runtime.rpc.call("eth_getTransactionByHash", transaction)
            if known is None:
                return Outcome(Confirmation.PENDING, message=f"{transaction} is not known to the node yet")
            sender, nonce = known["from"], int(known["nonce"], 16)
        count, receipt = await runtime.rpc.batch(
            [("eth_getTransactionCount", [sender, "latest"]), ("eth_getTransactionReceipt", [transaction])]
        )
        if (
            isinstance(receipt, dict)
            or isinstance(count, RpcError)
            or nonce is None
            or int(count, 16) <= nonce
        ):
            return Outcome(Confirmation.PENDING, message=f"{transaction} is not mined yet")
        return Outcome(
            Confirmation.DROPPED,
            Reason.SETTLEMENT_FAILED,
            f"nonce {nonce} of {sender} was used by another transaction; {transaction} will never be mined",
        )

    async def _await_depth(
        self, runtime: EvmNetwork, transaction: str, receipt: dict, timeout: float
    ) -> dict | None:
        deadline = time.monotonic() + timeout
        target = int(receipt["blockNumber"], 16) + runtime.config.confirmations - 1
        while time.monotonic() < deadline:
            head, current = await runtime.rpc.batch(
                [("eth_blockNumber", []), ("eth_getTransactionReceipt", [transaction])]
            )
            if not isinstance(current, dict):
                return None  # reorged out
            if isinstance(head, str) and int(head, 16) >= target:
                return current
            await asyncio.sleep(runtime.config.receipt_poll_interval)
        return None

    async def _revert_cause(self, runtime: EvmNetwork, transaction: str, receipt: dict) -> str:
        """Replays the reverted call on its block's state to name the cause (an authorization used, or a
        balance spent, by an earlier transaction shows there; the reverted one left no trace)."""
        try:
            tx = await runtime.rpc.call("eth_getTransactionByHash", transaction)
            call = {"from": tx["from"], "to": tx["to"], "data": tx["input"]}
            await runtime.rpc.call("eth_call", call, receipt["blockNumber"])
        except RpcError as exc:
            return f"transaction reverted: {eip3009.decode_revert(exc.revert_data or b'') or exc.message}"
        except (NodeUnavailable, KeyError, TypeError, ValueError):
            pass
        return "transaction reverted"
