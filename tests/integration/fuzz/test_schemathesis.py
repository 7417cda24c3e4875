"""Schemathesis against the OpenAPI document the gateway serves, on the real stack.

A real nats-server, ledger and gateway with the Nano, EVM and Solana workers on their devnets, so a
generated body that names a served network gets a real worker's answer. Every check is on: no 5xx,
every status and body as documented, schema-valid bodies accepted (never a 400), schema-invalid ones
refused, undeclared methods answered 405 with `Allow`. The per-IP limit of the session stack is far
above what the run sends. Two runs side by side take the x402 facilitator API (metadata, verify,
settle), one per copy (root, /facilitator); a third, with fewer examples per operation, takes the
discovery catalog (both copies), the whitelist lookup, the dashboard's status and key routes and the
admin API (the session gateway has no admin token and the run no key: those answer 401, documented
with their security schemes). `POST /dashboard/api/keys` is left out: the name it takes (printable,
not blank) has no exact JSON Schema, and a schema-driven run must never meet a 400 it cannot predict.

`X402FAC_FUZZ_EXAMPLES` (examples per operation and phase) and `X402FAC_FUZZ_SEED` override the
defaults; the fixed seed keeps the suite deterministic, another seed explores other inputs.
"""

import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.evm import serve_evm
from x402fac.telemetry import REGISTRY

ROOT = Path(__file__).parents[3]
EXAMPLES = int(os.environ.get("X402FAC_FUZZ_EXAMPLES", "900"))
PRODUCT_EXAMPLES = int(os.environ.get("X402FAC_FUZZ_PRODUCT_EXAMPLES", str(max(1, EXAMPLES // 18))))
SEED = int(os.environ.get("X402FAC_FUZZ_SEED", "402"))
# About 10,000 requests in all with the default number of examples (8 operations take a body).
MIN_REQUESTS = min(9_000, EXAMPLES * 8)
# The x402 facilitator API (discovery, verify and settle, v1 and v2), at the root and under
# /facilitator: two runs side by side, one per copy. Generation is the costly part, and schemathesis'
# own worker threads trip CPython 3.11's AST recursion counter (a SystemError inside hypothesis).
ROUTES = "|".join(["/health", "/supported", "/verify", "/settle", "/v1/verify", "/v1/settle"])
CATALOG = "|".join(["/discovery/resources", "/discovery/search", "/list", "/whitelist/"])
PRODUCT = f"^(/facilitator)?({CATALOG})|^/dashboard/api/|^/admin/"
PARTS = {
    "root": ["--include-path-regex", f"^(/|{ROUTES})$", "--max-examples", str(EXAMPLES)],
    "facilitator": ["--include-path-regex", f"^/facilitator(|{ROUTES})$", "--max-examples", str(EXAMPLES)],
    "product": [
        *("--include-path-regex", PRODUCT),
        *("--exclude-path", "/dashboard/api/keys"),
        *("--max-examples", str(PRODUCT_EXAMPLES)),
    ],
}
# Operations per run: 7 of the facilitator API per copy; 3 catalog routes per copy, the whitelist
# lookup per copy, the status, me, usage and settlements of the dashboard, 9 admin operations.
OPERATIONS = {"root": 7, "facilitator": 7, "product": 2 * 3 + 2 + 4 + 9}


async def run_schemathesis(base_url: str, workdir: Path, selection: list[str]) -> tuple[int, str, dict]:
    workdir.mkdir()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base_url}/schema",
        *selection,
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--report",
        "json",
        "--report-json-path",
        "report.json",
        "--generation-database",
        "none",
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "NO_COLOR": "1",
            "SCHEMATHESIS_TELEMETRY": "false",
            "SCHEMATHESIS_HOOKS": "tests.integration.fuzz.schemathesis_hooks",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    )
    output, _ = await process.communicate()
    report = json.loads((workdir / "report.json").read_text())
    return process.returncode or 0, output.decode(errors="replace"), report


def counted(metric: str, label: str) -> Counter[str]:
    """A counter of the in-process gateway and workers, summed by one label."""
    counts: Counter[str] = Counter()
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == f"{metric}_total":
                counts[sample.labels[label]] += int(sample.value)
    return counts


@pytest.mark.timeout(900)
async def test_served_schema_holds_under_schemathesis(
    stack: Any, nano_worker: Any, solana_worker: Any, evm_devnet: dict, tmp_path: Path
) -> None:
    async with serve_evm(stack, evm_devnet):
        answered_before = counted("x402fac_http_requests", "status")
        worked_before = counted("x402fac_outcomes", "family")
        started = time.monotonic()
        runs = await asyncio.gather(
            *(run_schemathesis(stack.gateway_url, tmp_path / name, part) for name, part in PARTS.items())
        )
        elapsed = time.monotonic() - started
        answered = counted("x402fac_http_requests", "status") - answered_before
        worked = counted("x402fac_outcomes", "family") - worked_before
    generated = sum(report["test_cases"]["generated"] for _, _, report in runs[:2])
    product = runs[2][2]["test_cases"]["generated"]
    print(
        f"schemathesis: {generated} test cases (+{product} product) in {elapsed:.0f} s; gateway answers by status: "
        f"{dict(answered)}; worker outcomes by family: {dict(worked)}"
    )

    for name, (returncode, output, report) in zip(PARTS, runs, strict=True):
        assert returncode == 0, output[-20_000:]
        assert report["test_cases"]["with_failures"] == 0 and not report["errors"], output[-20_000:]
        assert report["operations"]["tested"] == OPERATIONS[name], (name, report["operations"])
    assert generated >= MIN_REQUESTS
    assert sum(answered.values()) >= MIN_REQUESTS
    assert not [status for status in answered if status.startswith("5")], answered
    # generated bodies got past the decoder to every family's worker (steered there by the hooks),
    # and were refused by the decoder too
    assert answered["400"] > 0
    assert all(worked[family] >= EXAMPLES // 10 for family in ("nano", "evm", "solana")), worked
