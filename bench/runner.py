"""Runs the selected workloads against every target, one fresh chain per (target, chain mode, EVM payment
method)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import evm, loadgen, nano, solana
from bench.evm import Payer, Payment
from bench.procstat import CpuMeter
from bench.targets import Target, ensure_ts_installed, free_port, make_target
from bench.workloads import Workload

log = logging.getLogger("bench")

PAYERS = 256  # EVM payers funded on every fresh chain; consecutive payments never share one
VERIFY_TIMEOUT = 30.0
SETTLE_TIMEOUT = 60.0
MAX_INFLIGHT = 256
DRAIN_TIMEOUT = 30.0
SCALING_TARGET = "x402fac-2w"
BLOCK_TIMES = {"automine": None, "1s": 1}
# EVM payment methods, each on fresh chains of its own: anvil's CPU per block grows with the blocks
# already on the chain (~1-2 µs each, empty ones too; anvil 1.7.1, every history flag alike), so on a
# shared chain a target that settled more in the EIP-3009 workloads would pay for it in its Permit2 ones.
METHODS = ("eip3009", "permit2")
# The references that speak each family (viem's nonceManager is EVM only; no Nano facilitator exists)
REFERENCES = {"evm": ("python", "ts", "ts-nm"), "solana": ("python", "ts"), "nano": ()}


@dataclass
class Options:
    targets: list[str]
    workloads: list[Workload]
    quick: bool = False
    scaling: bool = True
    payers: int = PAYERS
    keep_workdir: bool = False
    say: Callable[[str], None] = print


@dataclass
class Results:
    workloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)

    def put(self, workload: Workload, target: str, summary: dict[str, Any]) -> None:
        entry = self.workloads.setdefault(
            workload.name,
            {
                "family": workload.family,
                "chain": workload.chain,
                "action": workload.action,
                "mode": workload.mode,
                "level": workload.level,
                "duration_s": workload.duration,
                "payments": workload.payments,
                "targets": {},
            },
        )
        entry["targets"][target] = summary


class Bench:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.results = Results()
        self.workdir = Path(tempfile.mkdtemp(prefix="x402fac-bench-"))
        self.evm_payers: list[Payer] = []
        self.evm_payments: dict[str, list[Payment]] = {}

    def say(self, text: str) -> None:
        self.options.say(text)

    # ---- plan ---------------------------------------------------------------------------------

    def targets_for(self, workload: Workload) -> list[str]:
        names = [
            t
            for t in self.options.targets
            if t == "x402fac" or (workload.references and t in REFERENCES[workload.family])
        ]
        if self.options.scaling and workload.scaling and "x402fac" in self.options.targets:
            names.append(SCALING_TARGET)
        return names

    def sign_evm_payments(self) -> None:
        evm_workloads = [w for w in self.options.workloads if w.family == "evm"]
        if not evm_workloads:
            return
        started = time.perf_counter()
        self.evm_payers = [Payer.create() for _ in range(self.options.payers)]
        warmup_to = evm.new_address()
        self.evm_payments["warmup-verify"] = evm.sign_payments(self.evm_payers, 64, warmup_to)
        self.evm_payments["warmup-settle"] = evm.sign_payments(self.evm_payers, 16, warmup_to)
        for workload in evm_workloads:
            self.evm_payments[workload.name] = evm.sign_payments(
                self.evm_payers, workload.payments, evm.new_address(), method=workload.method
            )
        count = sum(len(p) for p in self.evm_payments.values())
        self.say(f"signed {count} EVM payments in {time.perf_counter() - started:.1f}s")

    # ---- run ----------------------------------------------------------------------------------

    async def run(self) -> Results:
        if any(t.startswith("ts") for t in self.options.targets):
            await asyncio.to_thread(ensure_ts_installed)
        self.sign_evm_payments()
        try:
            for chain_mode in BLOCK_TIMES:
                for method in METHODS:
                    selected = [
                        w
                        for w in self.options.workloads
                        if w.family == "evm" and w.chain == chain_mode and w.method == method
                    ]
                    targets = dict.fromkeys(t for w in selected for t in self.targets_for(w))
                    for target_name in targets:
                        mine = [w for w in selected if target_name in self.targets_for(w)]
                        await self.evm_session(target_name, chain_mode, mine, method)
            for family in ("nano", "solana"):
                selected = [w for w in self.options.workloads if w.family == family]
                for target_name in dict.fromkeys(t for w in selected for t in self.targets_for(w)):
                    mine = [w for w in selected if target_name in self.targets_for(w)]
                    await self.family_session(family, target_name, mine)
        finally:
            if not self.options.keep_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return self.results

    def new_target(self, name: str, families: tuple[str, ...]) -> Target:
        if name == SCALING_TARGET:
            return make_target("x402fac", replicas=2, families=families)
        return make_target(name, families=families)

    async def evm_session(
        self, target_name: str, chain_mode: str, workloads: list[Workload], method: str
    ) -> None:
        workdir = self.workdir / f"{target_name}-{chain_mode}-{method}"
        self.say(f"[{target_name} / EVM {chain_mode} {method}] fresh anvil, {len(self.evm_payers)} payers")
        devnet = await evm.start_devnet(
            workdir,
            BLOCK_TIMES[chain_mode],
            signers=2 if target_name == SCALING_TARGET else 1,  # one key per EVM worker replica
            port=free_port(),
            solc_cache=self.workdir / "solc",
        )
        chain = evm.Chain(devnet.info)
        target = self.new_target(target_name, ("evm",))
        client = loadgen.Client(MAX_INFLIGHT, SETTLE_TIMEOUT)
        session: dict[str, Any] = {
            "target": target_name,
            "chain": chain_mode,
            "method": method,
            "workdir": str(workdir),
        }
        nudge = evm.AutomineNudge(devnet.info["rpcUrl"])
        if BLOCK_TIMES[chain_mode] is None:
            nudge.start()
        try:
            await chain.fund(p.address for p in self.evm_payers)
            if method == "permit2":
                await chain.fund((p.address for p in self.evm_payers), token=evm.ERC20_ADDRESS)
                await chain.approve_permit2(self.evm_payers)
            await target.start({"evm": devnet.info}, workdir)
            assert devnet.process is not None
            groups = cpu_groups(target, devnet.process.pid)
            session["processes"] = target.pids() | {"anvil": devnet.process.pid}
            await self.warm_up(client, target, any(w.settles for w in workloads))
            for workload in workloads:
                summary = await self.measure(
                    workload, client, target, groups, self.evm_payments[workload.name], chain
                )
                self.results.put(workload, target_name, summary)
                self.say(f"  {workload.name:<18} {_one_line(summary)}")
        except Exception as exc:
            session["error"] = f"{type(exc).__name__}: {exc}"
            self.say(f"  session failed: {session['error']}")
            log.exception("session %s/%s failed", target_name, chain_mode)
        finally:
            await nudge.stop()
            session["automine_nudges"] = nudge.nudges
            await client.close()
            await target.stop()
            session["log_problems"] = target.log_problems()
            self.results.sessions.append(session)
            await chain.close()
            await devnet.stop()

    async def warm_up(self, client: loadgen.Client, target: Target, settles: bool) -> None:
        """Connections, caches and JITs warm before anything is timed (answers not recorded)."""
        bodies = [p.body for p in self.evm_payments["warmup-verify"]]
        await loadgen.closed_loop(client, target.url + "/verify", bodies, 8, 10.0, settle=False)
        if settles:
            bodies = [p.body for p in self.evm_payments["warmup-settle"]]
            await loadgen.closed_loop(client, target.url + "/settle", bodies, 4, 20.0, settle=True)

    async def measure(
        self,
        workload: Workload,
        client: loadgen.Client,
        target: Target,
        groups: dict[str, list[int]],
        payments: list[Payment],
        chain: Any,
    ) -> dict[str, Any]:
        settle = workload.settles
        url = target.url + ("/settle" if settle else "/verify")
        bodies = [p.body for p in payments]
        before = await self.chain_mark(chain, workload)
        meter = CpuMeter(groups)
        meter.start()
        if workload.mode == "closed":
            run = await loadgen.closed_loop(
                client, url, bodies, workload.level, workload.duration, settle, workload.min_requests
            )
        elif workload.mode == "open":
            run = await loadgen.open_loop(
                client, url, bodies, workload.level, workload.duration, settle, MAX_INFLIGHT, DRAIN_TIMEOUT
            )
        else:
            run = await self.bursts(client, url, bodies, workload.level, chain)
        cpu = meter.stop()
        target.check_alive()
        summary = run.summary()
        requests = max(summary["requests"], 1)
        totals = {name: used for name, used in cpu.items() if not name.startswith(PROCESS)}
        summary["cpu_ms_per_req"] = {name: round(1000 * used / requests, 3) for name, used in totals.items()}
        summary["cpu_cores"] = {
            name: round(used / max(run.elapsed, 1e-9), 2) for name, used in totals.items()
        }
        summary["facilitator_cpu_ms_per_req_by_process"] = {
            name.removeprefix(PROCESS): round(1000 * used / requests, 3)
            for name, used in cpu.items()
            if name.startswith(PROCESS)
        }
        if settle:
            summary["onchain"] = await self.cross_check(workload, chain, run, payments, before)
        return summary

    async def bursts(
        self, client: loadgen.Client, url: str, bodies: list[bytes], copies: int, chain: Any
    ) -> loadgen.Run:
        """Each payment `copies` times at once; the chain settles down between payments."""
        total = loadgen.Run("burst", copies)
        for index, body in enumerate(bodies):
            run = await loadgen.burst(client, url, body, copies, settle=True)
            for sample in run.samples:
                sample.index = index
            total.samples += run.samples
            total.elapsed += run.elapsed
            total.loadgen_cpu += run.loadgen_cpu
            if isinstance(chain, evm.Chain):
                await chain.wait_idle()
        return total

    async def chain_mark(self, chain: Any, workload: Workload) -> dict[str, Any]:
        if not workload.settles or not isinstance(chain, evm.Chain):
            return {}
        signers = [f["address"] for f in chain.info["facilitators"]]
        return {"block": await chain.block_number(), "nonces": await chain.nonces(signers)}

    async def cross_check(
        self,
        workload: Workload,
        chain: Any,
        run: loadgen.Run,
        payments: list[Payment],
        before: dict[str, Any],
    ) -> dict[str, Any]:
        """Success answers against the transfers the chain actually holds."""
        pay_to = payments[0].pay_to
        ok = [s for s in run.samples if s.outcome == "ok"]
        ok_transactions = {s.transaction.lower() for s in ok}
        if isinstance(chain, evm.Chain):
            await chain.wait_quiet(before["nonces"])  # a target may still be sending what timed out
            token = payments[0].token
            onchain = {h.lower() for h in await chain.transfers_to(pay_to, before["block"], token)}
            balance = await chain.balance_of(pay_to, token)
            nonces = await chain.nonces(before["nonces"])
            mined = sum(nonces[a] - before["nonces"][a] for a in nonces)
            check: dict[str, Any] = {"transactions_mined": mined, "failed_transactions": mined - len(onchain)}
            if mined > len(onchain) or workload.action == "duplicate":
                receipts = await chain.sent_transactions(before["nonces"], before["block"] + 1)
                check |= evm.gas_summary(receipts)
        elif isinstance(chain, solana.SolanaChain):
            return await self._solana_check(chain, ok, payments)
        else:
            await chain.wait_confirmed({s.transaction.upper() for s in ok})
            onchain = {h.lower() for h in await chain.receivable(pay_to)}
            balance = len(onchain) * payments[0].amount  # each receivable is one exact payment
            check = {}
        check |= {
            "ok_answers": len(ok),
            "distinct_ok_transactions": len(ok_transactions),
            "onchain_transfers": len(onchain),
            "ok_without_transfer": len(ok_transactions - onchain),
            "transfer_without_ok": len(onchain - ok_transactions),
            "answers_left_unsure": sum(1 for s in run.samples if _unsure(s.outcome)),
            "balance_matches": balance == len(onchain) * payments[0].amount,
        }
        # Every success is backed by its own transfer; a transfer without a success answer is allowed
        # only where the answer was not definite (pending, timed out, never answered).
        check["consistent"] = (
            check["ok_without_transfer"] == 0
            and check["transfer_without_ok"] <= check["answers_left_unsure"]
            and check["balance_matches"]
            and len(ok) == len(ok_transactions)  # one success per payment, duplicates included
        )
        if workload.action == "duplicate":
            # every copy but one is told the payment was already taken: which reasons they got
            check["duplicate_answers"] = dict(Counter(s.outcome for s in run.samples if s.outcome != "ok"))
            check["one_success_per_payment"] = len(ok) == len(payments) == len(ok_transactions)
            check["consistent"] = check["consistent"] and check["one_success_per_payment"]
        return check

    async def _solana_check(
        self, chain: solana.SolanaChain, ok: list[loadgen.Sample], payments: list[Payment]
    ) -> dict[str, Any]:
        """Every success answer's signature landed without error, and the seller got exactly that much."""
        signatures = sorted({s.transaction for s in ok})
        statuses = await chain.wait_landed(signatures)
        landed = sum(1 for s in statuses.values() if s.get("err") is None)
        balance = await chain.usdc_balance(solana.Pubkey.from_string(payments[0].pay_to))
        transfers = balance // payments[0].amount
        check = {
            "ok_answers": len(ok),
            "distinct_ok_transactions": len(signatures),
            "ok_landed_without_error": landed,
            "onchain_transfers": transfers,
            "ok_without_transfer": len(signatures) - landed,
            "transfer_without_ok": max(transfers - landed, 0),
            "balance_matches": balance == landed * payments[0].amount,
        }
        check["consistent"] = len(ok) == len(signatures) == landed == transfers and check["balance_matches"]
        return check

    async def family_session(self, family: str, target_name: str, workloads: list[Workload]) -> None:
        """One target on a fresh devnet of `family` (Nano: x402fac alone, no reference speaks it)."""
        workdir = self.workdir / f"{target_name}-{family}"
        settle_payments = sum(w.payments for w in workloads if w.settles)
        session: dict[str, Any] = {"target": target_name, "chain": f"{family}-devnet"}
        target = self.new_target(target_name, (family,))
        client = loadgen.Client(MAX_INFLIGHT, SETTLE_TIMEOUT)
        chain: Any = None
        try:
            if family == "nano":
                # One fresh account per settle (a frontier pays once); verifies share 64 accounts.
                self.say(f"[{target_name} / Nano devnet] {settle_payments + 64} funded accounts")
                chain = await nano.start_devnet(workdir, free_port(), settle_payments + 64)
                sign = await self._nano_signer(chain, settle_payments)
            else:
                self.say(f"[{target_name} / Solana LiteSVM devnet] 64 funded payers")
                chain = await solana.start_devnet(workdir, free_port(), 64)
                sign = self._solana_signer(chain)
            await target.start({family: chain.info}, workdir)
            groups = cpu_groups(target, chain.pid)
            session["processes"] = target.pids() | {f"devnet-{family}": chain.pid}
            warm = await sign(Workload("warm-up", family, "devnet", "verify", "closed", 8, 10.0, 64))
            await loadgen.closed_loop(client, target.url + "/verify", [p.body for p in warm], 8, 10.0, False)
            if family == "solana" and any(w.settles for w in workloads):
                warm = await sign(Workload("warm-up", family, "devnet", "settle", "closed", 4, 20.0, 4))
                await loadgen.closed_loop(
                    client, target.url + "/settle", [p.body for p in warm], 4, 20.0, True
                )
            for workload in workloads:
                payments = await sign(workload)  # before the clock starts
                summary = await self.measure(workload, client, target, groups, payments, chain)
                self.results.put(workload, target_name, summary)
                self.say(f"  {workload.name:<18} {_one_line(summary)}")
        except Exception as exc:
            session["error"] = f"{type(exc).__name__}: {exc}"
            self.say(f"  session failed: {session['error']}")
            log.exception("%s session failed", family)
        finally:
            await client.close()
            await target.stop()
            session["log_problems"] = target.log_problems()
            self.results.sessions.append(session)
            if chain is not None:
                with contextlib.suppress(Exception):
                    await chain.close()

    async def _nano_signer(self, chain: nano.NanoChain, settle_payments: int) -> Callable:
        keys = chain.info["payers"]
        verifiers = await nano.payer_states(chain.node, chain.info, keys[:64])
        settlers = await nano.payer_states(chain.node, chain.info, keys[64:])
        cursor = 0

        async def sign(workload: Workload) -> list[Payment]:
            nonlocal cursor
            if not workload.settles:
                return nano.sign_payments(chain.info, verifiers, workload.payments, nano.new_address(), False)
            mine = settlers[cursor : cursor + workload.payments]
            cursor += workload.payments
            return nano.sign_payments(chain.info, mine, workload.payments, nano.new_address(), True)

        return sign

    def _solana_signer(self, chain: solana.SolanaChain) -> Callable:
        payers = solana.payers_of(chain.info)

        async def sign(workload: Workload) -> list[Payment]:
            pay_to = solana.Keypair().pubkey()
            await chain.open_token_account(pay_to)
            return solana.sign_payments(
                chain.info, payers, workload.payments, pay_to, await chain.blockhash()
            )

        return sign


PROCESS = "process:"  # CPU groups of one facilitator process each, beside the facilitator's total


def cpu_groups(target: Target, chain_pid: int) -> dict[str, list[int]]:
    """The facilitator (all of its processes), each of them on its own, and the chain node."""
    pids = target.pids()
    return {"facilitator": list(pids.values()), "chain": [chain_pid]} | {
        PROCESS + name: [pid] for name, pid in pids.items()
    }


def _unsure(outcome: str) -> bool:
    return outcome in ("settlement_pending", "not_finished", "client_timeout") or outcome.startswith(
        ("connection_error", "http_5")
    )


def _one_line(summary: dict[str, Any]) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in summary["errors"].items()) or "no errors"
    text = (
        f"ok/s {summary['ok_per_s']:>8}  p50 {summary['p50_ms']} ms  p99 {summary['p99_ms']} ms"
        f"  ({summary['ok']}/{summary['requests']} ok; {errors})"
        f"  CPU {summary['cpu_ms_per_req'].get('facilitator')} ms/req"
    )
    onchain = summary.get("onchain")
    if onchain is not None:
        text += "  on-chain " + ("consistent" if onchain["consistent"] else "INCONSISTENT")
    return text
