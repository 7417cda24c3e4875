"""What is measured: every workload, at the full size and at the --quick size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Workload:
    name: str
    family: str  # evm | nano | solana
    chain: str  # automine | 1s (EVM block production) | devnet (Nano)
    action: str  # verify | settle | duplicate
    mode: str  # closed (level = concurrency) | open (level = requests/s) | burst (level = copies)
    level: int
    duration: float  # seconds (closed, open); bursts: the number of payments sent `level` times each
    payments: int  # pre-signed payments (distinct)
    scaling: bool = False  # also run against x402fac with two worker replicas
    references: bool = True  # False: x402fac only (no reference facilitator speaks it)
    method: str = "eip3009"  # EVM: how the payments transfer (eip3009: USDC; permit2: a plain ERC-20)
    # closed: requests sent at least (past `duration` if need be), so that a slow workload's CPU per
    # request rests on more than a handful of requests (the same minimum for every target)
    min_requests: int = 0

    @property
    def settles(self) -> bool:
        return self.action in ("settle", "duplicate")


def catalog(quick: bool) -> list[Workload]:
    # A full run stays under 20 minutes with every family's scaling run and the profile.
    closed = 1.5 if quick else 8.0
    opened = 1.5 if quick else 5.0
    blocks = 3.0 if quick else 10.0
    rates = (50, 200) if quick else (50, 200, 800)
    verify_pool = {1: 40, 8: 150, 32: 300} if quick else {1: 4_000, 8: 12_000, 32: 16_000}
    settle_pool = {1: 20, 8: 60, 32: 120} if quick else {1: 2_000, 8: 5_000, 32: 6_000}
    block_pool = {1: 6, 8: 30, 32: 100} if quick else {1: 40, 8: 200, 32: 700}
    bursts = 2 if quick else 5
    solana_time = 1.5 if quick else 6.0
    solana_verify = {1: 40, 8: 150, 32: 300} if quick else {1: 2_000, 8: 5_000, 32: 6_000}
    solana_settle = {1: 6, 8: 30, 32: 80} if quick else {1: 30, 8: 200, 32: 600}
    slow_minimum = 3 if quick else 20  # one settle at a time on a chain that takes ~1 s
    found: list[Workload] = []

    def add(name: str, family: str, chain: str, action: str, mode: str, level: int, duration: float,
            payments: int, **flags: Any) -> None:  # fmt: skip
        found.append(Workload(name, family, chain, action, mode, level, duration, payments, **flags))

    # fmt: off
    for c in (1, 8, 32):
        add(f"evm-verify-c{c}", "evm", "automine", "verify", "closed", c, closed, verify_pool[c], scaling=c == 32)
    for r in rates:
        add(f"evm-verify-r{r}", "evm", "automine", "verify", "open", r, opened, int(r * opened))
    for c in (1, 8, 32):
        add(f"evm-settle-c{c}", "evm", "automine", "settle", "closed", c, closed, settle_pool[c], scaling=c == 32)
    for r in rates:
        add(f"evm-settle-r{r}", "evm", "automine", "settle", "open", r, opened, int(r * opened))
    add("evm-dup-x10", "evm", "automine", "duplicate", "burst", 10, bursts, bursts)
    # Permit2 (any ERC-20 through the x402 exact proxy; payers approved Permit2 once per chain)
    for c in (8, 32):
        add(f"evm-permit2-verify-c{c}", "evm", "automine", "verify", "closed", c, closed, verify_pool[c], method="permit2")
    for c in (8, 32):
        add(f"evm-permit2-settle-c{c}", "evm", "automine", "settle", "closed", c, closed, settle_pool[c], method="permit2")
    for c in (1, 8, 32):
        add(f"evm1s-settle-c{c}", "evm", "1s", "settle", "closed", c, blocks, block_pool[c], min_requests=slow_minimum if c == 1 else 0)
    add("evm1s-dup-x10", "evm", "1s", "duplicate", "burst", 10, bursts, bursts)
    for c in (8, 32):
        add(f"nano-verify-c{c}", "nano", "devnet", "verify", "closed", c, closed, 300 if quick else 20_000, references=False, scaling=c == 32)
    add("nano-settle-c32", "nano", "devnet", "settle", "closed", 32, closed, 60 if quick else 1_500, references=False, scaling=True)
    # Solana: x402fac and both references, each on its own devnet (a settle waits for the devnet's
    # 0.8 s confirmation, so 6 s per workload keeps the three-target run short).
    for c in (1, 8, 32):
        add(f"solana-verify-c{c}", "solana", "devnet", "verify", "closed", c, solana_time, solana_verify[c], scaling=c == 32)
    for c in (1, 8, 32):
        add(f"solana-settle-c{c}", "solana", "devnet", "settle", "closed", c, solana_time, solana_settle[c], scaling=c == 32, min_requests=slow_minimum if c == 1 else 0)
    # fmt: on
    return found


def select(workloads: list[Workload], patterns: list[str] | None) -> list[Workload]:
    """Workloads whose name starts with one of `patterns` (e.g. evm-verify, evm1s, nano, evm-settle-c32)."""
    if not patterns:
        return workloads
    return [w for w in workloads if any(w.name.startswith(p) for p in patterns)]
