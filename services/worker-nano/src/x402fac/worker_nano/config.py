"""Which Nano networks this worker serves, where their nodes are, and the work each demands.

Environment (a network is served when its RPC URLs are set; `<NET>` is the CAIP-2 reference upper-cased,
e.g. MAINNET for nano:mainnet, DEVNET for nano:devnet, BETA for nano:beta):

    X402FAC_NANO_<NET>_RPC_URLS        comma-separated node RPC URLs, tried in order (failover)
    X402FAC_NANO_<NET>_WORK_THRESHOLD  hex send-work threshold (default: mainnet's fffffff800000000)
    X402FAC_NANO_RPC_TIMEOUT           seconds per RPC request (default 10)
    X402FAC_NANO_CONFIRM_POLL          seconds between confirmation polls (default 0.05)

With no X402FAC_NANO_*_RPC_URLS set, the worker serves the devnet described by
`$X402FAC_DATA_DIR/devnet-nano.json` (default data dir `.x402fac`), if that file exists.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from x402fac.nano import MAINNET_SEND_THRESHOLD, format_work, parse_threshold

_RPC_URLS_RE = re.compile(r"X402FAC_NANO_([A-Z0-9_]+)_RPC_URLS")
DEVNET_INFO_FILE = "devnet-nano.json"


@dataclass(frozen=True, slots=True)
class NanoNetwork:
    network: str  # CAIP-2, e.g. "nano:mainnet"
    rpc_urls: tuple[str, ...]
    work_threshold: int = MAINNET_SEND_THRESHOLD

    @property
    def work_threshold_hex(self) -> str:
        return format_work(self.work_threshold)


@dataclass(frozen=True, slots=True)
class NanoConfig:
    networks: tuple[NanoNetwork, ...]
    rpc_timeout: float = 10.0
    confirm_poll: float = 0.05


def load_config(env: Mapping[str, str] | None = None) -> NanoConfig:
    env = os.environ if env is None else env
    networks = []
    for name, value in sorted(env.items()):
        match = _RPC_URLS_RE.fullmatch(name)
        if match is None:
            continue
        reference = match.group(1)
        urls = tuple(url.strip() for url in value.split(",") if url.strip())
        if not urls:
            raise ValueError(f"{name} is set but names no URL")
        threshold_text = env.get(f"X402FAC_NANO_{reference}_WORK_THRESHOLD")
        threshold = parse_threshold(threshold_text) if threshold_text else MAINNET_SEND_THRESHOLD
        networks.append(NanoNetwork(f"nano:{reference.lower()}", urls, threshold))
    if not networks:
        devnet = devnet_network(Path(env.get("X402FAC_DATA_DIR", ".x402fac")) / DEVNET_INFO_FILE)
        if devnet is not None:
            networks.append(devnet)
    return NanoConfig(
        networks=tuple(networks),
        rpc_timeout=float(env.get("X402FAC_NANO_RPC_TIMEOUT", "10")),
        confirm_poll=float(env.get("X402FAC_NANO_CONFIRM_POLL", "0.05")),
    )


def devnet_network(info_path: Path) -> NanoNetwork | None:
    """The network a running devnet describes in its info file, or None if there is none."""
    if not info_path.is_file():
        return None
    info = json.loads(info_path.read_text())
    return NanoNetwork(
        network=info["network"],
        rpc_urls=(info["rpcUrl"],),
        work_threshold=parse_threshold(info["workThresholds"]["send"]),
    )
