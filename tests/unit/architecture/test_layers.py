"""The layer rules of docs/design.md ("Layout and layer rules"), enforced: `lint-imports` holds on the
tree, and every contract in [tool.importlinter] (root pyproject.toml) is shown to break when a fake
import graph violates it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.api import read_configuration
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract

ROOT = Path(__file__).resolve().parents[3]
CONFIG = read_configuration(str(ROOT / "pyproject.toml"))
CONTRACTS = {"forbidden": ForbiddenContract, "independence": IndependenceContract}


def test_the_tree_keeps_every_contract() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Contracts: {len(CONFIG['contracts_options'])} kept, 0 broken." in run.stdout


def test_the_layer_rules_are_all_there() -> None:
    names = " / ".join(options["name"] for options in CONFIG["contracts_options"])
    for rule in (
        "protocol imports nothing of ours",
        "bus imports only protocol and telemetry",
        "the gateway imports no worker",
        "workers never import the gateway",
        "the worker library imports no family code",
        "ledger imports only protocol, bus and telemetry",
        "devnets never import the gateway, the ledger or a worker service",
        "only the ledger declares buckets and streams",
    ):
        assert rule in names


def _graph(edge: tuple[str, str] | None) -> grimp.ImportGraph:
    """Every root package with a module inside, every module the contracts name, and maybe one import."""
    graph = grimp.ImportGraph()
    for root in CONFIG["session_options"]["root_packages"]:
        graph.add_module(root)
        graph.add_module(f"{root}.inner")
    for options in CONFIG["contracts_options"]:
        for key in ("source_modules", "forbidden_modules", "modules"):
            for module in options.get(key, []):
                graph.add_module(module)
    if edge is not None:
        importer, imported = edge
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import it")
    return graph


def _violations(options: dict[str, Any]) -> list[tuple[str, str]]:
    """Every import that breaks the contract: a module inside a source importing a forbidden module
    directly (each pair), or one independent module importing another (each ordered pair)."""
    if options["type"] == "independence":
        modules = options["modules"]
        return [(f"{a}.inner", f"{b}.inner") for a in modules for b in modules if a != b]
    return [
        (f"{source}.inner", forbidden)
        for source in options["source_modules"]
        for forbidden in options["forbidden_modules"]
    ]


@pytest.mark.parametrize("options", CONFIG["contracts_options"], ids=lambda options: options["name"])
def test_each_contract_catches_a_violation(options: dict[str, Any]) -> None:
    contract_type = CONTRACTS[options["type"]]
    contract = contract_type(options["name"], CONFIG["session_options"], options)
    assert contract.check(_graph(None), verbose=False).kept
    for violation in _violations(options):
        assert not contract.check(_graph(violation), verbose=False).kept, violation
