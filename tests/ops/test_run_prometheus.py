"""`x402fac run` with X402FAC_RUN_PROMETHEUS=1: the Prometheus configuration it writes is valid (promtool)
and loads the alert rules from deploy/observability."""

import json
import subprocess

from tests.ops.tools import need
from x402fac.cli.stack import ALERT_RULES, prometheus_config


def test_run_writes_a_prometheus_config_promtool_accepts(tmp_path):
    promtool = need("promtool", "prometheus")
    targets = {"ledger": "127.0.0.1:9101", "worker-evm": "127.0.0.1:9102", "gateway": "127.0.0.1:4020"}
    text = prometheus_config(targets, ALERT_RULES)
    path = tmp_path / "prometheus.yml"
    path.write_text(text)

    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    config = json.loads(text)
    assert config["rule_files"] == [str(ALERT_RULES)] and ALERT_RULES.is_file()
    scraped = {c["job_name"]: c["static_configs"][0]["targets"] for c in config["scrape_configs"]}
    assert scraped == {name: [target] for name, target in targets.items()}
