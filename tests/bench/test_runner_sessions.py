"""Which fresh chains the harness starts: one per target, block mode and EVM payment method."""

from __future__ import annotations

from bench.runner import Bench, Options
from bench.workloads import catalog, select


async def test_permit2_workloads_get_fresh_chains_of_their_own(monkeypatch) -> None:
    # anvil's CPU per block grows with the chain's age: a target's EIP-3009 settles must not age the
    # chain its Permit2 settles run on
    workloads = select(catalog(quick=True), ["evm-settle-c8", "evm-permit2-settle", "evm1s-settle-c8"])
    bench = Bench(Options(["x402fac", "python"], workloads, quick=True, scaling=False, payers=2))
    sessions = []

    async def session(target, chain_mode, mine, method):
        sessions.append((target, chain_mode, method, [w.name for w in mine]))

    monkeypatch.setattr(bench, "evm_session", session)
    await bench.run()

    permit2 = ["evm-permit2-settle-c8", "evm-permit2-settle-c32"]
    assert sessions == [
        ("x402fac", "automine", "eip3009", ["evm-settle-c8"]),
        ("python", "automine", "eip3009", ["evm-settle-c8"]),
        ("x402fac", "automine", "permit2", permit2),
        ("python", "automine", "permit2", permit2),
        ("x402fac", "1s", "eip3009", ["evm1s-settle-c8"]),
        ("python", "1s", "eip3009", ["evm1s-settle-c8"]),
    ]
