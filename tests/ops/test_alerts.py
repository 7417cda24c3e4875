"""Alert rules in deploy/observability: valid for Prometheus, and every alert unit-tested by promtool."""

import subprocess
from pathlib import Path

import yaml

from tests.ops.tools import need

OBSERVABILITY = Path(__file__).resolve().parents[2] / "deploy" / "observability"


def alert_names() -> set[str]:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())
    return {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}


def test_every_alert_has_a_firing_and_a_quiet_promtool_case():
    cases = yaml.safe_load((OBSERVABILITY / "alerts_test.yml").read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert alert_names()
    assert firing == alert_names()
    assert quiet == alert_names()


def test_promtool_checks_the_rules():
    promtool = need("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "check", "rules", "alerts.yml"], cwd=OBSERVABILITY, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


def test_promtool_unit_tests_pass():
    promtool = need("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=OBSERVABILITY, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
