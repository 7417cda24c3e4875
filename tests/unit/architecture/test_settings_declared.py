"""Every X402FAC_* variable the product reads is declared in the settings catalogue
(x402fac.cli.settings.catalogue, docs/design.md "Layout and layer rules"): the source under services/,
libs/ and deploy/devnet/src is scanned for variable names (string literals, per-network templates
with `{net}`, f-strings whose placeholders stand for a network or a setting, a name prefix plus a
literal suffix, keyword arguments of an environment dict), and one the catalogue does not declare fails
the test."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from x402fac.bus import subjects
from x402fac.cli.settings import catalogue

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*ROOT.glob("services/*/src"), *ROOT.glob("libs/*/src"), ROOT / "deploy" / "devnet" / "src"]
# Strings shaped like a variable that name something else: the JetStream streams.
NOT_VARIABLES = {value for key, value in vars(subjects).items() if key.endswith("_STREAM")}
WILD = "*"  # an f-string placeholder or a template's `{net}`: a network's name, a setting's suffix
NAME = re.compile(r"X402FAC_[A-Z0-9_*]+")
TEMPLATE = re.compile(r"\{[a-z_]*\}")  # `{net}` in a per-network variable's declared name


def _pattern(node: ast.AST, names: dict[str, set[str]]) -> set[str]:
    """The variable names (with WILD for placeholders) a string expression can spell."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {TEMPLATE.sub(WILD, node.value)}
    if isinstance(node, ast.JoinedStr):
        return {"".join(part.value if isinstance(part, ast.Constant) else WILD for part in node.values)}
    if isinstance(node, ast.Name):
        return names.get(node.id, set())
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return {a + b for a in _pattern(node.left, names) for b in _pattern(node.right, names)}
    return set()


def read_names(source: str) -> set[str]:
    """Every X402FAC_* variable name (or name pattern) the module spells."""
    tree = ast.parse(source)
    parts = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    # name = "X402FAC_..._" : a prefix that code completes with a suffix (`prefix + "ASSET"`)
    prefixes: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            spelled = {p for p in _pattern(node.value, {}) if NAME.fullmatch(p)}
            if spelled:
                prefixes.setdefault(node.targets[0].id, set()).update(spelled)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in parts:
            continue
        if isinstance(node, ast.keyword) and node.arg and NAME.fullmatch(node.arg):
            found.add(node.arg)
        if isinstance(node, ast.Constant | ast.JoinedStr | ast.BinOp):
            found |= {p for p in _pattern(node, prefixes) if NAME.fullmatch(p)}
    # A prefix alone is not a variable, and the parts of a concatenation are found with it.
    return {name for name in found if not name.endswith("_")}


def _regex(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name).replace(re.escape(WILD), "[A-Z0-9_]+"))


def undeclared(files: Iterable[Path], declared: Iterable[str]) -> dict[str, list[str]]:
    """name -> the files that read it, for every name no declared variable accounts for. A declared
    `{net}` is any network; a name with placeholders is declared when some declared variable fits it."""
    declared = list(declared)
    samples = [name.replace("{net}", "NET") for name in declared]
    patterns = [_regex(name.replace("{net}", WILD)) for name in declared]
    missing: dict[str, list[str]] = {}
    for path in files:
        for name in read_names(path.read_text()):
            if name in NOT_VARIABLES:
                continue
            if WILD in name:
                ok = any(_regex(name).fullmatch(sample) for sample in samples)
            else:
                ok = any(pattern.fullmatch(name) for pattern in patterns)
            if not ok:
                missing.setdefault(name, []).append(str(path))
    return missing


def product_files() -> list[Path]:
    return sorted(path for source in SOURCES for path in source.rglob("*.py"))


def test_the_product_reads_only_declared_variables() -> None:
    files = product_files()
    assert len(files) > 50, SOURCES  # the scan sees the tree
    assert subjects.WORK_STREAM in NOT_VARIABLES
    assert undeclared(files, (v.name for v in catalogue())) == {}


def test_the_scan_finds_the_ways_code_names_a_variable() -> None:
    source = """
import os
from os import environ, getenv
a = os.environ.get("X402FAC_PLANTED_GET")
b = os.environ["X402FAC_PLANTED_INDEX"]
c = getenv("X402FAC_PLANTED_GETENV")
d = environ.get("X402FAC_PLANTED_ENVIRON")
def network(env, net):
    prefix = f"X402FAC_EVM_{net}_"
    return env.get(prefix + "PLANTED_SUFFIX"), env.get(f"X402FAC_NANO_{net}_PLANTED")
e = dict(os.environ, X402FAC_PLANTED_KEYWORD="1")
g = setting("X402FAC_SOLANA_{net}_PLANTED_TEMPLATE", 1, values=None)
f = "a message naming X402FAC_NATS_URL is not a read"
"""
    assert read_names(source) == {
        "X402FAC_PLANTED_GET",
        "X402FAC_PLANTED_INDEX",
        "X402FAC_PLANTED_GETENV",
        "X402FAC_PLANTED_ENVIRON",
        "X402FAC_EVM_*_PLANTED_SUFFIX",
        "X402FAC_NANO_*_PLANTED",
        "X402FAC_PLANTED_KEYWORD",
        "X402FAC_SOLANA_*_PLANTED_TEMPLATE",
    }


def test_an_undeclared_read_fails_and_a_declared_one_passes(tmp_path: Path) -> None:
    declared = [v.name for v in catalogue()]
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import os\n"
        'url = os.environ.get("X402FAC_NATS_URL")\n'  # declared
        'rpc = os.environ.get("X402FAC_EVM_8453_RPC_URLS")\n'  # declared per network
        "def gas(env, net):\n"
        '    return env.get(f"X402FAC_EVM_{net}_GAS_LIMIT")\n'  # declared per network
    )
    assert undeclared([planted], declared) == {}
    planted.write_text(planted.read_text() + 'root = os.getenv("X402FAC_PLANTED_ROOT")\n')
    assert set(undeclared([planted], declared)) == {"X402FAC_PLANTED_ROOT"}
    planted.write_text(
        planted.read_text() + 'def bad(env, net):\n    return env.get(f"X402FAC_EVM_{net}_PLANTED")\n'
    )
    assert set(undeclared([planted], declared)) == {"X402FAC_PLANTED_ROOT", "X402FAC_EVM_*_PLANTED"}
    planted.write_text(
        planted.read_text()
        + 'gas_limit = setting("X402FAC_EVM_{net}_GAS_LIMIT", 300_000, values=None)\n'  # declared
        + 'planted = setting("X402FAC_EVM_{net}_PLANTED_FIELD", 1, values=None)\n'
    )
    assert set(undeclared([planted], declared)) == {
        "X402FAC_PLANTED_ROOT",
        "X402FAC_EVM_*_PLANTED",
        "X402FAC_EVM_*_PLANTED_FIELD",
    }
