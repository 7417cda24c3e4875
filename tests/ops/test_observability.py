"""The running stack, observed: every service's metrics, a real Prometheus scraping them (every dashboard
panel and alert expression evaluated), and one trace per payment across gateway -> NATS -> worker ->
ledger, exported over OTLP/HTTP to a receiver in the test.

One stack for the module: nats-server, three devnets, ledger, three workers, gateway, each its own
process with its own metrics port; one demo payment per network through the gateway.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml

from tests.ops.stack import FAMILIES, OtlpReceiver, http_get, running_stack, wait_for
from tests.ops.tools import need
from x402fac.bus import free_port
from x402fac.children import popen
from x402fac.cli.demo import run_demo

OBSERVABILITY = Path(__file__).resolve().parents[2] / "deploy" / "observability"
# Panels that may be empty on a healthy devnet stack: no node fails and no payment is refused.
MAY_BE_EMPTY = {"RPC errors by node", "Reason codes (not valid / settled)"}
NETWORKS = {"nano": "nano:devnet", "evm": "eip155:84532", "solana": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"}
SPAN_KIND_CLIENT = 3  # opentelemetry.proto.trace.v1.Span.SpanKind


@pytest.fixture(scope="module")
def otlp():
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def stack(otlp):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    with running_stack(extra_env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
async def payments(stack):
    """One payment per network through the gateway, with the official x402 clients."""
    results = {}
    for family in FAMILIES:
        lines: list[str] = []
        result = await run_demo(family, stack.gateway_url, data_dir=stack.data_dir, say=lines.append)
        assert result.succeeded, "\n".join(lines)
        results[family] = result
    return results


def test_every_service_exports_its_metrics(stack, payments):
    texts = {service.name: http_get(service.metrics_url) for service in stack.services}

    for name, text in texts.items():
        assert f'x402fac_nats_connected{{service="{name}"}} 1.0' in text.splitlines(), name
    for family in FAMILIES:
        worker = texts[f"worker-{family}"]
        settled = rf'x402fac_outcomes_total\{{family="{family}",kind="settle",network="[^"]+",outcome="settled"\}} 1\.0'
        assert re.search(settled, worker) or re.search(
            rf'x402fac_outcomes_total\{{kind="settle",family="{family}",network="[^"]+",outcome="settled"\}} 1\.0',
            worker,
        ), worker
        assert f'x402fac_worker_up{{family="{family}"}} 1.0' in worker.splitlines()
        assert f'x402fac_pending_settlements{{family="{family}"}}' in texts["ledger"]
    assert 'x402fac_http_requests_total{route="settle",status="200"}' in texts["gateway"]


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads((OBSERVABILITY / "dashboard.json").read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]


def alert_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())
    return [(rule["alert"], rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bx402fac_[a-z0-9_]+", expr))


def exported(name: str, expositions: list[str]) -> bool:
    base = re.sub(r"_(bucket|count|sum|total)$", "", name)
    return any(f"# TYPE {base} " in text or f"# TYPE {name} " in text for text in expositions)


@pytest.fixture(scope="module")
def prometheus(stack, payments, tmp_path_factory):
    binary = need("prometheus", "prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    targets = [urllib.parse.urlsplit(s.metrics_url).netloc for s in stack.services]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(OBSERVABILITY / "alerts.yml")],
        "scrape_configs": [{"job_name": "x402fac", "static_configs": [{"targets": targets}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("prometheus", lambda: "Ready" in http_get(f"{url}/-/ready"), [process])
        # Every target up and scraped at least three times since the payments (rates need two samples).
        wait_for("all targets scraped", lambda: len(query(url, "up == 1")) == len(targets), [process])
        scraped = "count(count_over_time(up[1m]) >= 3)"
        wait_for("three scrapes per target", lambda: _count(query(url, scraped)) == len(targets), [process])
        settled = 'count(count_over_time(x402fac_outcomes_total{kind="settle",outcome="settled"}[1m]) >= 2)'
        wait_for("settles scraped", lambda: _count(query(url, settled)) == 3, [process])
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def query(url: str, expr: str) -> list:
    reply = json.loads(http_get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    assert reply["status"] == "success", reply
    return reply["data"]["result"]


def _count(result: list) -> int:
    return int(float(result[0]["value"][1])) if result else 0


def test_prometheus_evaluates_every_dashboard_panel_against_the_live_stack(stack, prometheus):
    expositions = [http_get(s.metrics_url) for s in stack.services]
    empty = []
    for title, expr in dashboard_queries():
        names = metric_names(expr)
        assert names, title
        for name in names:
            assert exported(name, expositions), f"{title}: {name} is exported by no service"
        concrete = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
        if not query(prometheus, concrete):
            empty.append(title)
    assert set(empty) <= MAY_BE_EMPTY, f"panels without data: {empty}"
    # The families' own series: the settled counters of all three networks reach the dashboard.
    throughput = query(
        prometheus, 'sum by (network) (x402fac_outcomes_total{kind="settle", outcome="settled"})'
    )
    assert {series["metric"]["network"] for series in throughput} == set(NETWORKS.values())
    workers = query(prometheus, "sum by (family) (x402fac_worker_up)")
    assert {s["metric"]["family"]: s["value"][1] for s in workers} == {f: "1" for f in FAMILIES}


def test_prometheus_evaluates_every_alert_and_none_fires(stack, prometheus):
    expositions = [http_get(s.metrics_url) for s in stack.services]
    for alert, expr in alert_queries():
        for name in metric_names(expr):
            assert exported(name, expositions), f"{alert}: {name} is exported by no service"
        assert query(prometheus, expr) == [], f"{alert} would fire on a healthy stack"
    rules = json.loads(http_get(f"{prometheus}/api/v1/rules"))["data"]["groups"]
    loaded = {rule["name"] for group in rules for rule in group["rules"]}
    assert loaded == {alert for alert, _ in alert_queries()}
    assert all(rule["health"] in ("ok", "unknown") for group in rules for rule in group["rules"])


def test_one_trace_spans_gateway_nats_worker_and_ledger(stack, payments, otlp):
    def traces() -> dict[str, list[dict]]:
        grouped: dict[str, list[dict]] = {}
        for span in list(otlp.spans):
            grouped.setdefault(span["trace_id"], []).append(span)
        return grouped

    def settle_chain(family: str) -> list[dict] | None:
        """gateway POST /settle -> NATS client -> worker settle -> NATS client -> ledger claim, parent to
        child, in one trace."""
        for spans in traces().values():
            by_id = {s["span_id"]: s for s in spans}
            for claim in (s for s in spans if s["name"] == "x402fac-ledger.claim"):
                to_ledger = by_id.get(claim["parent_id"])
                if not to_ledger or to_ledger["name"] != "nats x402.ledger.claim":
                    continue
                worker = by_id.get(to_ledger["parent_id"])
                if not worker or worker["name"] != f"x402fac-{family}.settle":
                    continue
                to_worker = by_id.get(worker["parent_id"])
                if not to_worker or to_worker["name"] != f"nats x402work.settle.{family}":
                    continue
                gateway = by_id.get(to_worker["parent_id"])
                if gateway and gateway["name"].endswith("/settle"):
                    return [gateway, to_worker, worker, to_ledger, claim]
        return None

    for family in FAMILIES:
        wait_for(f"{family} settle trace", lambda f=family: settle_chain(f) is not None)
        gateway, to_worker, worker, to_ledger, ledger = settle_chain(family)
        assert (
            to_worker["service"] == "x402fac-gateway" and to_ledger["service"] == f"x402fac-worker-{family}"
        )
        assert gateway["service"] == "x402fac-gateway"
        assert worker["service"] == f"x402fac-worker-{family}"
        assert ledger["service"] == "x402fac-ledger"
        assert gateway["trace_id"] == worker["trace_id"] == ledger["trace_id"]
        assert gateway["parent_id"] == ""  # the trace starts at the gateway
        # ... and the worker's calls to its node: CLIENT spans `rpc <method>` in the same trace, naming
        # the node by scheme://host only (a provider's key in a path or query never reaches a span).
        rpc = [
            span
            for span in traces()[gateway["trace_id"]]
            if span["name"].startswith("rpc ") and span["service"] == f"x402fac-worker-{family}"
        ]
        assert rpc, f"no RPC span in the {family} settle trace"
        for span in rpc:
            assert span["kind"] == SPAN_KIND_CLIENT
            assert re.fullmatch(r"https?://[^/?#@]+", span["attributes"]["server.address"]), span
