"""Nano side of the benchmark: the devnet as its own process, pre-signed send blocks, receivable checks,
and the per-core sig+hash micro benchmark.

A payer account can pay once from a given frontier, so settle payments use one fresh devnet account
each (the devnet opens and funds them at start). Verify payments may share a frontier: they vary the
block's representative, so every body (and block hash) is distinct while the work stays valid.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import targets
from bench.evm import Payment, payment_body
from bench.targets import DevnetProcess
from x402fac.devnet.nano import NETWORK, work_for
from x402fac.nano import StateBlock, decode_address, encode_address, parse_hash, public_key
from x402fac.nano.node import NanoNode
from x402fac.rpc import FailoverHttp

PAYMENT_RAW = 10**24  # 0.000001 XNO


@dataclass
class NanoChain(DevnetProcess):
    node: NanoNode

    async def receivable(self, address: str) -> set[str]:
        return await self.node.receivable(address)

    async def wait_confirmed(self, hashes: set[str], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(hashes)
        while pending and time.monotonic() < deadline:
            blocks = await self.node.blocks_info(sorted(pending))
            pending = {h for h in pending if blocks.get(h, {}).get("confirmed") != "true"}
            if pending:
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        await self.node.close()
        await super().close()


async def start_devnet(data_dir: Path, port: int, payers: int) -> NanoChain:
    proc, info = await targets.start_devnet("nano", data_dir, port, payers, timeout=600)
    return NanoChain(proc, info, NanoNode(FailoverHttp([info["rpcUrl"]], timeout=60)))


def requirements(info: dict[str, Any], pay_to: str, amount: int = PAYMENT_RAW) -> dict[str, Any]:
    return {
        "scheme": "exact",
        "network": NETWORK,
        "asset": "XNO",
        "amount": str(amount),
        "payTo": pay_to,
        "maxTimeoutSeconds": 30,
        "extra": {"work": "required", "workThreshold": info["workThresholds"]["send"]},
    }


def new_address() -> str:
    return encode_address(os.urandom(32))


def _body(info: dict[str, Any], block: StateBlock, pay_to: str) -> bytes:
    return payment_body(requirements(info, pay_to), {"block": block.to_json()})


@dataclass
class PayerState:
    secret: bytes
    public: bytes
    frontier: bytes
    balance: int
    work: int  # valid for `frontier`


async def payer_states(node: NanoNode, info: dict[str, Any], keys: list[dict[str, str]]) -> list[PayerState]:
    """Each payer's frontier and balance (from the devnet `info` describes), with the send work for
    that frontier."""
    states = []
    for key in keys:
        state = await node.account_info(key["account"])
        if state is None:
            raise ValueError(f"devnet payer {key['account']} is not opened")
        frontier = parse_hash(state["frontier"])
        work = await work_for(info, "send", frontier)
        states.append(
            PayerState(
                bytes.fromhex(key["privateKey"]),
                bytes.fromhex(key["publicKey"]),
                frontier,
                int(state["balance"]),
                work,
            )
        )
    return states


def sign_payments(
    info: dict[str, Any], payers: list[PayerState], count: int, pay_to: str, distinct_payers: bool
) -> list[Payment]:
    """`count` payments; with `distinct_payers` each uses its own payer (settle), else they cycle (verify)."""
    if distinct_payers and count > len(payers):
        raise ValueError(f"{count} settle payments need as many payers, the devnet has {len(payers)}")
    link = decode_address(pay_to)
    payments = []
    for index in range(count):
        payer = payers[index % len(payers)]
        representative = payer.public if distinct_payers else os.urandom(32)
        block = StateBlock(payer.public, payer.frontier, representative, payer.balance - PAYMENT_RAW, link)
        block = block.signed(payer.secret).with_work(payer.work)
        payments.append(
            Payment(
                _body(info, block, pay_to),
                encode_address(payer.public),
                block.hash.hex().upper(),
                pay_to,
                PAYMENT_RAW,
            )
        )
    return payments


def sig_hash_per_second(seconds: float = 2.0) -> dict[str, float]:
    """Block hash + ed25519-blake2b signature check of signed send blocks, one core, as the worker does it."""
    secret = os.urandom(32)
    public = public_key(secret)
    blocks = [
        StateBlock(public, os.urandom(32), public, 10**30, os.urandom(32)).signed(secret) for _ in range(256)
    ]
    done = 0
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall_start < seconds:
        for block in blocks:
            if not block.signature_valid():
                raise AssertionError("a valid block failed to verify")
        done += len(blocks)
    cpu = time.process_time() - cpu_start
    return {"checks": done, "cpu_s": round(cpu, 3), "per_core_per_s": round(done / cpu, 1)}
