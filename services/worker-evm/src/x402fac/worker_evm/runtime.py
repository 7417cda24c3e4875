"""What the EVM worker keeps per network (RPC client, receipt poller, signers, fee and code caches),
the payment `identify` decodes, and the shapes of the calls made to the chain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from x402fac.protocol import Reason
from x402fac.rpc import NodeUnavailable
from x402fac.telemetry.metrics import REVERTED_SETTLEMENT_GAS
from x402fac.worker import HandOff, Invalid, NetworkRuntime

from . import eip3009
from .chain import EvmRpc, ReceiptWatcher, RpcError
from .config import EvmConfig, EvmNetworkConfig, TokenInfo
from .eip3009 import Authorization
from .nonces import Fees, Signer

FEE_CACHE_SECONDS = 1.0
FALLBACK_PRIORITY_FEE = 1_000_000  # 0.001 gwei, when the node has no eth_maxPriorityFeePerGas
COUNTED_REVERTS = 10_000  # reverted transactions remembered so that their gas is counted once


def hex_of(data: bytes) -> str:
    return "0x" + data.hex()


def call(
    to: str, data: bytes, *, sender: str | None = None, fees: Fees | None = None, gas: int | None = None
) -> dict[str, str]:
    """An `eth_call`/`eth_estimateGas` object; with `fees` and `gas` it runs as a settlement will."""
    fields = {"to": to, "data": hex_of(data)}
    if sender is not None:
        fields = {"from": sender, **fields}
    if fees is not None and gas is not None:
        fields["gas"] = hex(gas)
        fields["maxFeePerGas"] = hex(fees.max_fee_per_gas)
        fields["maxPriorityFeePerGas"] = hex(fees.max_priority_fee_per_gas)
    return fields


def view(to: str, data: bytes) -> tuple[str, list]:
    """A read of contract `to` on the latest state, as one entry of an RPC batch."""
    return ("eth_call", [call(to, data), "latest"])


def unavailable(exc: NodeUnavailable) -> Invalid:
    return Invalid(Reason.NODE_UNAVAILABLE, str(exc))


class EvmRuntime(NetworkRuntime[EvmNetworkConfig]):
    """What the scheme keeps per network: RPC client, receipt poller, signers, fee and code caches."""

    worker_defaults = EvmConfig()

    def open(self) -> None:
        config = self.config
        self.rpc = EvmRpc(list(config.rpc_urls), timeout=self.rpc_timeout)
        REVERTED_SETTLEMENT_GAS.labels("evm", config.network)  # exported at 0 until gas is burnt
        self.receipts = ReceiptWatcher(self.rpc, interval=self.confirm_poll)
        self.signers = [Signer(self.rpc, config.chain_id, key, self.fees) for key in config.signer_keys]
        self._contracts: set[str] = set()  # addresses known to hold code
        self._eip3009: set[str] = set()  # unlisted tokens that passed the EIP-3009 check
        self._reverts_counted: dict[str, None] = {}
        self._fees: Fees | None = None
        self._fees_at = 0.0
        self._fees_refresh: asyncio.Future | None = None
        # The most gas a transfer was estimated to need here, by the payment's `gas_key`.
        self.gas_needed: dict[str, int] = {}

    def pick_signer(self, usable: Callable[[str], bool]) -> Signer:
        """The least busy signer this replica may use now (one whose key it holds a lease on)."""
        mine = [signer for signer in self.signers if usable(signer.address)]
        if not mine:
            raise HandOff(f"this replica holds no signer key for {self.config.network} now")
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

    async def close(self) -> None:
        for signer in self.signers:
            await signer.nonces.close()
        await self.receipts.close()
        await self.rpc.close()


@dataclass(frozen=True, slots=True)
class Settlement:
    """The transaction that settles a payment: `calldata` sent to `target`, the contract that moves
    the funds (the token, an x402 Permit2 proxy), or Multicall3 deploying the payer's ERC-6492 wallet
    first (`counterfactual.settlement`: `calldata` is then the `aggregate3` of both calls)."""

    target: str
    calldata: bytes
    deploys_wallet: bool = False

    def transfer(self, sender: str, fees: Fees, gas: int) -> dict[str, str]:
        """The transaction as `sender` will send it: its gas and fee fields."""
        return call(self.target, self.calldata, sender=sender, fees=fees, gas=gas)


@dataclass(frozen=True, slots=True)
class EvmPayment:
    """An EIP-3009 authorization decoded and authenticated by `identify`: everything verify and settle need."""

    runtime: EvmRuntime
    asset: TokenInfo  # the token, and its EIP-712 domain from extra
    authorization: Authorization
    signature: bytes
    settlement: Settlement  # the token's transferWithAuthorization, through Multicall3 for a new wallet

    @property
    def token(self) -> str:
        return self.asset.address

    @property
    def gas_key(self) -> str | None:
        """What settlements needing the same gas share (`EvmRuntime.gas_needed`): the token; None for
        one that deploys a wallet, which happens once."""
        return None if self.settlement.deploys_wallet else self.token.lower()

    def transferred(self, logs: list[dict]) -> bool:
        """Whether a receipt's logs show this payment's transfer."""
        return eip3009.has_transfer_log(logs, self.token, self.authorization)
