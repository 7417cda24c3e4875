"""The layer rules of docs/design.md ("Layout and layer rules"), enforced: `lint-imports` holds on the
tree, every package has its place in the layers, and every contract in [tool.importlinter] (root
pyproject.toml) is shown to break when a fake import graph violates it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.api import read_configuration
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parents[3]
CONFIG = read_configuration(str(ROOT / "pyproject.toml"))
CONTRACTS = {"forbidden": ForbiddenContract, "independence": IndependenceContract, "layers": LayersContract}
ROOT_PACKAGES = CONFIG["session_options"]["root_packages"]


def _layers(options: dict[str, Any]) -> list[tuple[list[str], bool]]:
    """Each layer, top first: its modules, and whether they are independent siblings (`|`, or alone)."""
    return [(re.split(r"\s*[|:]\s*", layer.strip()), ":" not in layer) for layer in options["layers"]]


def _contracts(kind: str) -> list[dict[str, Any]]:
    return [options for options in CONFIG["contracts_options"] if options["type"] == kind]


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


def test_every_package_has_its_layer() -> None:
    (layers,) = _contracts("layers")
    placed = [module for modules, _ in _layers(layers) for module in modules]
    assert sorted(placed) == sorted(ROOT_PACKAGES)
    assert placed[0] == "x402fac.cli" and placed[-1] == "x402fac.settings"


def test_the_worker_families_are_independent() -> None:
    (independence,) = _contracts("independence")
    families = {"x402fac.worker_nano", "x402fac.worker_evm", "x402fac.worker_solana"}
    assert families | {"x402fac.ledger", "x402fac.devnet", "x402fac.gateway"} <= set(independence["modules"])


def _graph(edge: tuple[str, str] | None) -> grimp.ImportGraph:
    """Every root package with a module inside, every module the contracts name, and maybe one import."""
    graph = grimp.ImportGraph()
    for root in ROOT_PACKAGES:
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


def _downward(options: dict[str, Any]) -> list[tuple[str, str]]:
    """Imports a layers contract lets through: a module of each layer importing one of any layer below."""
    layers = _layers(options)
    return [
        (f"{high}.inner", f"{low}.inner")
        for i, (highs, _) in enumerate(layers)
        for lows, _ in layers[i + 1 :]
        for high in highs
        for low in lows
    ]


def _violations(options: dict[str, Any]) -> list[tuple[str, str]]:
    """Every import that breaks the contract: a module of a layer importing one of any layer above it
    or an independent sibling; one independent module importing another (each ordered pair); a module
    inside a source importing a forbidden module directly (each pair)."""
    if options["type"] == "layers":
        upward = [(low, high) for high, low in _downward(options)]
        sideways = [
            (f"{a}.inner", f"{b}.inner")
            for modules, independent in _layers(options)
            if independent
            for a in modules
            for b in modules
            if a != b
        ]
        return upward + sideways
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
    violations = _violations(options)
    assert violations
    for violation in violations:
        assert not contract.check(_graph(violation), verbose=False).kept, violation
    if options["type"] == "layers":
        for allowed in _downward(options):
            assert contract.check(_graph(allowed), verbose=False).kept, allowed
