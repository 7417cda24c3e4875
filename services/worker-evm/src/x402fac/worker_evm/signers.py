"""The signer keys of a worker replica: leased from the pool shared with the other replicas, and the
gas balance of each key it holds watched."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from x402fac.bus import subjects
from x402fac.rpc import NodeUnavailable
from x402fac.telemetry import SIGNER_GAS_BALANCE, SIGNER_KEYS_HELD, labelled
from x402fac.worker.leases import LeasePool

from .nonces import Signer
from .runtime import EvmRuntime

GAS_BALANCE_INTERVAL_SECONDS = 30.0


async def _leases_bucket(nc: Client, attempts: int = 100) -> KeyValue:
    """The ledger declares the lease bucket: a worker started first waits for it."""
    for _ in range(attempts):
        try:
            return await nc.jetstream().key_value(subjects.LEASES_BUCKET)
        except BucketNotFoundError:
            await asyncio.sleep(0.2)
    raise RuntimeError(f"bucket {subjects.LEASES_BUCKET} not found: is the ledger running?")


class SignerLeases:
    """Which signer keys this replica may use. Without NATS (a scheme used on its own) every key is
    this process's; a worker replica leases its keys from the pool shared with the others (`start`)."""

    def __init__(self, runtimes: list[EvmRuntime], *, ttl: float, margin: float) -> None:
        self._runtimes = runtimes
        self.ttl, self.margin = ttl, margin
        self.pool: LeasePool | None = None
        self._balances: asyncio.Task | None = None

    def _signers(self) -> list[Signer]:
        return [signer for runtime in self._runtimes for signer in runtime.signers]

    def addresses(self) -> list[str]:
        return sorted({signer.address for signer in self._signers()})

    def usable(self, address: str) -> bool:
        return self.pool is None or self.pool.usable(address)

    async def start(self, nc: Client, replica: str) -> None:
        addresses = self.addresses()
        if not addresses:
            return
        for signer in self._signers():
            signer.nonces.may_send = lambda address=signer.address: self.usable(address)
        kv = await _leases_bucket(nc)
        self.pool = LeasePool(
            kv,
            "evm-signers",
            addresses,
            replica,
            ttl=self.ttl,
            margin=self.margin,
            on_acquired=self._took_over,
        )
        await self.pool.start()
        self._balances = asyncio.create_task(self._watch_gas_balances())

    async def _watch_gas_balances(self) -> None:
        """The native balance of each signer this replica holds: it pays the gas of every settle."""
        while True:
            for runtime in self._runtimes:
                held = [s for s in runtime.signers if self.usable(s.address)]
                if not held:
                    continue
                try:
                    balances = await runtime.rpc.batch(
                        [("eth_getBalance", [signer.address, "latest"]) for signer in held]
                    )
                except NodeUnavailable:
                    continue
                for signer, balance in zip(held, balances, strict=True):
                    if isinstance(balance, str):
                        SIGNER_GAS_BALANCE.labels(runtime.config.network, signer.address).set(
                            int(balance, 16)
                        )
            await asyncio.sleep(GAS_BALANCE_INTERVAL_SECONDS)

    def _took_over(self, address: str) -> None:
        """Another replica may have used this key: its nonce is read from the chain again."""
        for signer in self._signers():
            if signer.address == address:
                signer.nonces.resync_later()

    async def stop(self) -> None:
        if self._balances is not None:
            self._balances.cancel()
        if self.pool is not None:
            await self.pool.stop()

    def can_settle(self) -> bool:
        held = self.pool.usable_keys() if self.pool is not None else None
        labelled(SIGNER_KEYS_HELD, "evm").set(len(held) if held is not None else len(self.addresses()))
        return held is None or bool(held)

    def status(self) -> dict:
        pool = self.addresses()
        held = self.pool.usable_keys() if self.pool is not None else pool
        return {"signers": {"held": held, "pool": len(pool)}}
