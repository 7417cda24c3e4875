"""What every worker's configuration shares beyond the parsing of x402fac.settings: the
networks named by RPC URL variables, the devnet file, per-asset minimums.

Every family follows one naming scheme (see docs/networks/<family>.md):

    X402FAC_<FAMILY>_<NET>_RPC_URLS   a network is served when its RPC URLs are set (comma list, failover)
    X402FAC_<FAMILY>_<NET>_<SETTING>  a setting of one network
    X402FAC_<FAMILY>_<SETTING>        a setting of the whole worker; a few per-network settings also
                                      fall back to it when a network has no value of its own
                                      (docs/networks/<family>.md says which: EVM signer keys, Solana
                                      fee-payer keys and limits)
    X402FAC_DATA_DIR                  with no RPC URLs set, the devnet described by
                                      `$X402FAC_DATA_DIR/devnet-<family>.json` is served

A missing or invalid value is a `SettingsError` at start-up whose message names the variable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from x402fac.settings import ServiceSettings, SettingsError, declared, get_list, read

N = TypeVar("N")  # a family's configuration of one network
ANY_ASSET = "any"  # an ALLOWED_ASSETS value: any asset the family can settle (an explicit opt-in)


@dataclass(frozen=True, slots=True)
class WorkerConfig(Generic[N]):
    """A worker's configuration: the networks it serves. Each family adds the options its networks'
    runtimes take, `rpc_timeout` and `confirm_poll`, declared by its `FamilySettings`; built with no
    network, it holds their declared defaults (the runtime's `worker_defaults`)."""

    networks: tuple[N, ...] = ()


def get_minimums(
    items: tuple[str, ...], name: str, normalize: Callable[[str], str] = str
) -> tuple[int, dict[str, int]]:
    """`N` and/or `<asset>=N` items (the value of the variable `name`): the smallest `amount` accepted,
    by default and per asset (atomic units, at least 1: a payment of 0 is worthless). `normalize`
    spells an asset as the worker does."""
    default, by_asset = 1, {}
    for item in items:
        asset, _, amount = item.rpartition("=")
        try:
            value = int(amount)
        except ValueError:
            raise SettingsError(f"{name} holds {item!r}; expected N or <asset>=N") from None
        if value < 1:
            raise SettingsError(f"{name} must be at least 1 (a payment of 0 is worthless), got {value}")
        if asset:
            by_asset[normalize(asset.strip())] = value
        else:
            default = value
    return default, by_asset


def rpc_url_networks(env: Mapping[str, str], family: str) -> dict[str, tuple[str, ...]]:
    """`<NET>` -> its RPC URLs, for every X402FAC_<FAMILY>_<NET>_RPC_URLS set (sorted by variable name).

    A variable that is set but names no URL is an error, not a network quietly left out.
    """
    pattern = re.compile(rf"X402FAC_{family.upper()}_([A-Z0-9_]+)_RPC_URLS")
    networks: dict[str, tuple[str, ...]] = {}
    for name in sorted(env):
        match = pattern.fullmatch(name)
        if match is None:
            continue
        urls = get_list(env, name)
        if not urls:
            raise SettingsError(f"{name} is set but names no URL")
        networks[match.group(1)] = urls
    return networks


def devnet_info_path(env: Mapping[str, str], family: str) -> Path:
    data_dir = read(env, declared(ServiceSettings, "data_dir"), str)
    return Path(data_dir) / f"devnet-{family}.json"


def devnet_info(env: Mapping[str, str], family: str) -> dict[str, Any] | None:
    """The parsed devnet-<family>.json in X402FAC_DATA_DIR, or None when there is none."""
    path = devnet_info_path(env, family)
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path} (from X402FAC_DATA_DIR) is not readable JSON: {exc}") from None
    if not isinstance(info, dict):
        raise SettingsError(f"{path} (from X402FAC_DATA_DIR) does not hold a JSON object")
    return info


def from_devnet_info(env: Mapping[str, str], family: str, build: Any) -> Any:
    """`build(info)` for the devnet info file; a missing key or bad value in it is a SettingsError."""
    info = devnet_info(env, family)
    if info is None:
        raise no_network(env, family)
    try:
        return build(info)
    except SettingsError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise SettingsError(f"{devnet_info_path(env, family)} is not a valid devnet file: {exc!r}") from None


def no_network(env: Mapping[str, str], family: str) -> SettingsError:
    name = family.upper()
    return SettingsError(
        f"no {name} network configured: set X402FAC_{name}_<NET>_RPC_URLS, or start the {family} devnet "
        f"so that {devnet_info_path(env, family)} exists (X402FAC_DATA_DIR)"
    )
