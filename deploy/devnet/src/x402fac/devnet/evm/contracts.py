"""Compiles the devnet contracts with solc-js (npm `solc`) and caches the artifacts by source hash."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from x402fac.devnet.settings import DevnetSettings
from x402fac.settings import load

CONTRACT_SOURCES = (
    "DevnetUSDC.sol",
    "DevnetTokenBase.sol",
    "DevnetTokens.sol",
    "Permit2.sol",
    "X402Permit2Proxies.sol",
    "SmartWallet.sol",
    "Multicall3.sol",
    "GasPriceTrap.sol",  # tests only
)
COMPILER_SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    # Base runs Cancun-level EVM; anvil supports it whatever its default hardfork.
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


class DevnetToolsMissing(RuntimeError):
    """The npm tools (anvil, solc) are not installed in deploy/devnet/node_modules."""


def devnet_root() -> Path:
    """deploy/devnet: holds package.json, node_modules and contracts/ (override: X402FAC_DEVNET_ROOT)."""
    override = load(DevnetSettings).root
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[4]


def node_modules() -> Path:
    path = devnet_root() / "node_modules"
    if not path.is_dir():
        raise DevnetToolsMissing(f"{path} is missing: run `make install` (npm ci in deploy/devnet)")
    return path


def anvil_binary() -> Path:
    path = node_modules() / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    if not path.is_file():
        raise DevnetToolsMissing(f"anvil binary not found at {path}: run `make install`")
    return path


@dataclass(frozen=True)
class Artifact:
    abi: list[dict]
    bytecode: bytes
    runtime: bytes


def _standard_input(contracts_dir: Path) -> dict:
    return {
        "language": "Solidity",
        "sources": {name: {"content": (contracts_dir / name).read_text()} for name in CONTRACT_SOURCES},
        "settings": COMPILER_SETTINGS,
    }


def _cache_key(standard_input: dict) -> str:
    solc_version = json.loads((node_modules() / "solc" / "package.json").read_text())["version"]
    digest = hashlib.sha256(json.dumps([solc_version, standard_input], sort_keys=True).encode())
    return digest.hexdigest()[:32]


async def _run_solc(standard_input: dict) -> dict:
    script = devnet_root() / "contracts" / "compile.cjs"
    node_modules()  # fail early with the install hint
    process = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate(json.dumps(standard_input).encode())
    if process.returncode != 0:
        raise RuntimeError(f"solc-js failed: {stderr.decode(errors='replace')}")
    output = json.loads(stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("solc errors:\n" + "\n".join(e["formattedMessage"] for e in errors))
    return output


async def load_artifacts(cache_dir: Path) -> dict[str, Artifact]:
    """Artifacts of every devnet contract by name, compiled once per source/compiler change."""
    standard_input = _standard_input(devnet_root() / "contracts")
    cache_file = cache_dir / f"evm-artifacts-{_cache_key(standard_input)}.json"
    if cache_file.is_file():
        output = json.loads(cache_file.read_text())
    else:
        output = await _run_solc(standard_input)
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(output))
        partial.replace(cache_file)
    artifacts = {}
    for contracts in output["contracts"].values():
        for name, compiled in contracts.items():
            artifacts[name] = Artifact(
                abi=compiled["abi"],
                bytecode=bytes.fromhex(compiled["evm"]["bytecode"]["object"]),
                runtime=bytes.fromhex(compiled["evm"]["deployedBytecode"]["object"]),
            )
    return artifacts


def artifacts_path(cache_dir: Path) -> Path:
    """The cached standard-JSON output for the current sources (exists after load_artifacts)."""
    return cache_dir / f"evm-artifacts-{_cache_key(_standard_input(devnet_root() / 'contracts'))}.json"
