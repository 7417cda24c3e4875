"""The report's cost table and goals, from hand-made results (no run)."""

from __future__ import annotations

from typing import Any

from bench import report


def _summary(cpu_ms: float, ok: int = 100, requests: int = 100, **extra: Any) -> dict[str, Any]:
    return {
        "ok": ok,
        "requests": requests,
        "ok_per_s": ok,
        "throughput": requests,
        "p50_ms": 1.0,
        "p90_ms": 1.0,
        "p99_ms": 1.0,
        "errors": {} if ok == requests else {"unknown": requests - ok},
        "loadgen_cpu_ms_per_req": 0.1,
        "cpu_ms_per_req": {"facilitator": cpu_ms, "chain": 1.0},
        **extra,
    }


def _entry(action: str, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "family": "evm",
        "chain": "automine",
        "action": action,
        "mode": "closed",
        "level": 32,
        "duration_s": 1.0,
        "payments": 100,
        "targets": targets,
    }


def test_cost_goals_use_the_best_reference_that_answered_ok() -> None:
    data = {
        "workloads": {
            "evm-verify-c32": _entry(
                "verify",
                {
                    "x402fac": _summary(
                        0.5, facilitator_cpu_ms_per_req_by_process={"gateway": 0.3, "worker": 0.2}
                    ),
                    "python": _summary(14.0),
                    "ts-nm": _summary(2.0),
                },
            ),
            "evm-settle-c32": _entry(
                "settle",
                {
                    "x402fac": _summary(3.0),
                    "ts": _summary(1.0, ok=10),  # mostly failed, cheaply: not the best reference
                    "ts-nm": _summary(6.0),
                },
            ),
        }
    }
    data["cpu_per_request"] = report.cpu_per_request(data)
    rows = data["cpu_per_request"]["evm"]
    assert (rows["evm-verify-c32"]["best_reference"], rows["evm-verify-c32"]["times_below_best"]) == (
        "ts-nm",
        4.0,
    )
    assert (rows["evm-settle-c32"]["best_reference"], rows["evm-settle-c32"]["times_below_best"]) == (
        "ts-nm",
        2.0,
    )

    checks = {c["target"]: c for c in report.check_targets(data)}
    verify = checks["EVM facilitator CPU per verify (c=32, all of its processes)"]
    assert verify["met"] is True and verify["measured"] == "0.5 ms (gateway 0.3, worker 0.2)"
    assert checks["EVM facilitator CPU per verify (c=32) vs the best reference"]["met"] is True
    assert checks["EVM facilitator CPU per settle (c=32, all of its processes)"]["met"] is False
    assert checks["EVM facilitator CPU per settle (c=32) vs the best reference"]["met"] is False

    table = "\n".join(report._cost_section(data))
    assert "| evm-settle-c32 | **3.0** |  | 1.0 (90% not ok) | 6.0 | 2.0x (TS ref + nonceManager) |" in table


def test_settle_latency_at_concurrency_one_is_checked_against_every_reference() -> None:
    faster, slower = _summary(3.0, p50_ms=12.5), _summary(3.0, p50_ms=14.0)
    data = {
        "workloads": {
            "evm-settle-c1": _entry(
                "settle", {"x402fac": faster, "python": slower, "ts-nm": _summary(3.0, p50_ms=9.0)}
            )
        }
    }
    data["cpu_per_request"] = report.cpu_per_request(data)
    checks = {c["target"]: c for c in report.check_targets(data)}
    assert checks["EVM settle c=1 p50 below Python SDK ref"] == {
        "target": "EVM settle c=1 p50 below Python SDK ref",
        "measured": "12.5 ms vs 14.0 ms",
        "goal": "below",
        "met": True,
    }
    assert checks["EVM settle c=1 p50 below TS ref + nonceManager"]["met"] is False
    assert checks["EVM settle c=1 p50 below TS ref"]["met"] is None  # not in this run
