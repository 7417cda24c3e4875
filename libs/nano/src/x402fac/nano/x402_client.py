"""Client side of the x402 `exact` scheme on Nano, for the official `x402` Python SDK.

    from x402 import x402Client
    from x402.http.clients import x402HttpxClient
    from x402fac.nano.x402_client import ExactNanoClientScheme

    client = x402Client()
    client.register("nano:mainnet", ExactNanoClientScheme(secret_key, "http://127.0.0.1:7076"))
    # The SDK pays only USD-pegged default assets unless told otherwise; XNO needs an explicit (raw) cap.
    client.set_spend_controls({"allowed_assets": [nano_spend_control(max_raw=10**30)]})
    async with x402HttpxClient(client) as http:
        response = await http.get(url)

The payload is what `@x402nano/exact` clients send and its facilitators expect: `{"block": <state send block in
the node's JSON shape, with link_as_account>}`. The block spends from the payer's *confirmed* frontier
(`account_info include_confirmed`), so a facilitator can verify it against confirmed state; if the payer's
latest block is still unconfirmed, the scheme waits for it (up to `confirmation_wait` seconds).

The SDK calls `create_payment_payload` synchronously. With the async `x402Client` the scheme first does the
RPC reads and the proof of work in a worker thread from its `before_payment_creation` hook (the SDK awaits
scheme hooks), so the event loop never blocks; `ExactNanoClientSchemeSync` (for `x402ClientSync`) does the
same work inline. Work below `local_work_limit` expected attempts is computed here; harder thresholds (the
mainnet send threshold needs ~2^29 attempts) are asked of the node's `work_generate`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .accounts import decode_address, encode_address
from .blocks import StateBlock, parse_hash
from .ed25519 import public_key
from .node import NanoNode, NodeError, UrllibTransport
from .work import (
    MAINNET_SEND_THRESHOLD,
    expected_attempts,
    generate_work,
    parse_threshold,
    parse_work,
    work_valid,
)

SCHEME = "exact"
ASSET = "XNO"
DEFAULT_LOCAL_WORK_LIMIT = 2**22  # ~3 s of pure-Python hashing


class NanoPaymentError(RuntimeError):
    """The payment cannot be built (unopened account, balance too low, node error, ...)."""


class ExactNanoClientScheme:
    """`SchemeNetworkClient` for `exact` on `nano:*`: signs a send block paying `payTo` exactly `amount` raw."""

    scheme = SCHEME

    def __init__(
        self,
        secret_key: bytes | str,
        rpc_url: str,
        *,
        work_rpc_url: str | None = None,
        local_work_limit: int = DEFAULT_LOCAL_WORK_LIMIT,
        confirmation_wait: float = 30.0,
        rpc_timeout: float = 30.0,
    ) -> None:
        self._secret = bytes.fromhex(secret_key) if isinstance(secret_key, str) else bytes(secret_key)
        if len(self._secret) != 32:
            raise ValueError("secret_key must be 32 bytes (64 hex digits)")
        self.public_key = public_key(self._secret)
        self.address = encode_address(self.public_key)
        self.rpc_url = rpc_url
        self.work_rpc_url = work_rpc_url or rpc_url
        self.local_work_limit = local_work_limit
        self.confirmation_wait = confirmation_wait
        self.rpc_timeout = rpc_timeout
        self._node = NanoNode(UrllibTransport(rpc_url, rpc_timeout))
        self._work_node = NanoNode(UrllibTransport(self.work_rpc_url, rpc_timeout))
        self._prepared: dict[tuple[str, ...], dict[str, Any]] = {}
        self._build_lock = threading.Lock()

    # -- x402 SDK interface ------------------------------------------------------------------------

    @property
    def scheme_hooks(self) -> dict[str, Any]:
        return {"before_payment_creation": self._prepare_in_thread}

    def create_payment_payload(self, requirements: Any, context: Any = None) -> dict[str, Any]:
        """The inner payload `{"block": {...}}`; the SDK wraps it with x402Version, accepted and resource.

        `context.max_amount_per_payment` (the SDK's spend cap in raw, when set) is enforced here too.
        """
        cap = getattr(context, "max_amount_per_payment", None)
        if cap is not None and int(requirements.amount) > int(cap):
            raise NanoPaymentError(f"price {requirements.amount} raw is above the spend cap {cap} raw")
        prepared = self._prepared.pop(_requirements_key(requirements), None)
        return prepared if prepared is not None else self.build_payload(requirements)

    async def _prepare_in_thread(self, context: Any) -> None:
        requirements = context.selected_requirements
        if getattr(requirements, "scheme", None) != SCHEME or not str(requirements.network).startswith(
            "nano:"
        ):
            return
        payload = await asyncio.to_thread(self.build_payload, requirements)
        self._prepared[_requirements_key(requirements)] = payload

    # -- building --------------------------------------------------------------------------------------

    def build_payload(self, requirements: Any) -> dict[str, Any]:
        """Reads the confirmed frontier, builds, works and signs the send block (blocking I/O and CPU)."""
        if requirements.scheme != SCHEME:
            raise NanoPaymentError(f"unsupported scheme {requirements.scheme!r}")
        if str(requirements.asset).upper() != ASSET:
            raise NanoPaymentError(f"unsupported asset {requirements.asset!r} on Nano; only XNO")
        amount = int(requirements.amount)
        if amount <= 0:
            raise NanoPaymentError(f"amount must be positive raw, got {requirements.amount!r}")
        pay_to = decode_address(requirements.pay_to)
        extra = requirements.extra or {}
        threshold = (
            parse_threshold(extra["workThreshold"]) if extra.get("workThreshold") else MAINNET_SEND_THRESHOLD
        )
        with self._build_lock:
            return _run(self._build(amount, pay_to, threshold))

    async def _build(self, amount: int, pay_to: bytes, threshold: int) -> dict[str, Any]:
        try:
            state = await self._confirmed_state(self._node)
            balance = int(state["confirmed_balance"])
            if amount > balance:
                raise NanoPaymentError(f"confirmed balance {balance} raw is below the price {amount} raw")
            previous = parse_hash(state["confirmed_frontier"])
            representative = decode_address(state.get("confirmed_representative") or state["representative"])
            block = StateBlock(self.public_key, previous, representative, balance - amount, pay_to)
            block = block.signed(self._secret).with_work(
                await self._work(self._work_node, previous, threshold)
            )
        except NodeError as error:
            raise NanoPaymentError(f"Nano RPC {error}") from error
        except OSError as error:
            raise NanoPaymentError(f"Nano RPC {self.rpc_url} unreachable: {error}") from error
        return {"block": block.to_json()}

    async def _confirmed_state(self, node: NanoNode) -> dict[str, Any]:
        deadline = time.monotonic() + self.confirmation_wait
        while True:
            state = await node.account_info(self.address)
            if state is None:
                raise NanoPaymentError(f"Nano RPC account_info: Account not found ({self.address})")
            if state["frontier"] == state["confirmed_frontier"]:
                return state
            if time.monotonic() > deadline:
                raise NanoPaymentError(
                    f"{self.address}: latest block {state['frontier']} is still unconfirmed"
                )
            await asyncio.sleep(0.05)

    async def _work(self, node: NanoNode, root: bytes, threshold: int) -> int:
        if expected_attempts(threshold) <= self.local_work_limit:
            return generate_work(root, threshold)
        work = parse_work(await node.work_generate(root, threshold))
        if not work_valid(work, root, threshold):
            raise NanoPaymentError("work_generate returned work below the threshold")
        return work


def _run(coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Runs the build to completion from synchronous code (the SDK's `create_payment_payload` is sync)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called on an event loop's thread (a sync SDK client inside async code): block it, as any sync client.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class ExactNanoClientSchemeSync(ExactNanoClientScheme):
    """For `x402ClientSync`, which refuses async hooks: the same scheme, building inline."""

    @property
    def scheme_hooks(self) -> dict[str, Any]:
        return {}


def nano_spend_control(max_raw: int | None = None, network: str = "nano:*") -> dict[str, str]:
    """An `allowed_assets` entry for the SDK's spend controls: XNO on `network`, capped at `max_raw` per payment."""
    entry = {"network": network, "asset": ASSET}
    if max_raw is not None:
        entry["max_amount_per_payment"] = str(max_raw)
    return entry


def _requirements_key(requirements: Any) -> tuple[str, ...]:
    extra = requirements.extra or {}
    return (
        str(requirements.network),
        str(requirements.pay_to),
        str(requirements.amount),
        str(requirements.asset),
        str(extra.get("workThreshold", "")),
    )
