"""One typed settings layer: every X402FAC_* variable a service reads is declared once, parsed and
validated at start-up, and a bad value is a `SettingsError` whose message names the variable.

A settings class is a frozen dataclass whose fields are declared with `setting(...)`: the variable,
its default, its bounds (a float, seconds or days, must be above zero unless declared
`positive=False`) and the Helm value that sets it (k8s/x402fac, one value per variable; a
`{family}` in the path is the worker's family). `load(cls, env)` builds the class from the
environment, `variables(cls)` lists what it reads.

A per-network setting has `{net}` in its variable's name (`X402FAC_<FAMILY>_{net}_<SETTING>`, its Helm
value a key of an entry of `workers.<family>.networks`); `load(cls, env, net=...)` reads it for one
network. Declared `worker_wide`, it also has a twin without `{net}_` (`X402FAC_<FAMILY>_<SETTING>`),
read when the network has no value of its own. The gateway, the ledger, the workers, the devnets and
the CLI all load their settings here (`x402fac.cli.settings` gathers the whole catalogue).

A leaf package: it imports nothing of ours, so every other package (the logging and tracing set-up
included) may read its settings here.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
T = TypeVar("T")
N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the variable (or the file) to fix."""


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, its Helm value, and how it is checked."""

    name: str  # `{net}` stands for a network's name in a per-network variable
    default: Any
    values: str | None  # the Helm value that sets it; None: local runs only (`x402fac run`)
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    positive: bool | None = None  # a number that must be above zero; None: a float must, an int need not
    choices: tuple[str, ...] = ()
    secret: bool = False  # the chart takes it from an existing Secret

    def named(self, net: str) -> Variable:
        return dataclasses.replace(self, name=self.name.format(net=net))

    def worker_wide(self) -> Variable:
        """A per-network variable's worker-wide twin: X402FAC_<FAMILY>_<SETTING>, the default of every
        network, set by `workers.<family>.<key>`."""
        values = (self.values or "").replace(".networks[]", "")
        return dataclasses.replace(self, name=self.name.replace("{net}_", ""), values=values)


def setting(
    name: str,
    default: Any,
    *,
    values: str | None,
    doc: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool | None = None,
    choices: tuple[str, ...] = (),
    secret: bool = False,
    worker_wide: bool | Mapping[str, Any] = False,
) -> Any:
    """A dataclass field read from the variable `name` (`{net}` in it: a per-network setting).

    `worker_wide`: the setting also has a worker-wide twin (see `Variable.worker_wide`), the default of
    every network; a mapping replaces some of the twin's attributes (its Helm value, `secret`)."""
    variable = Variable(name, default, values, doc, minimum, maximum, positive, choices, secret)
    metadata: dict[str, Any] = {"variable": variable}
    if worker_wide:
        if "{net}" not in name:
            raise TypeError(f"{name}: only a per-network setting has a worker-wide twin")
        changes = {} if worker_wide is True else dict(worker_wide)
        metadata["worker_wide"] = dataclasses.replace(variable.worker_wide(), **changes)
    return dataclasses.field(default=default, metadata=metadata)


def _camel(key: str) -> str:
    first, *rest = key.lower().split("_")
    return first + "".join(word.title() for word in rest)


@dataclass(frozen=True, slots=True)
class SectionSettings:
    """How a service names its settings, written once: `KEY` is the variable X402FAC_KEY set by the
    Helm value `<section>.key` (camel-cased, without the section's own name: X402FAC_GATEWAY_PORT is
    `gateway.port`); a setting set by another value names it (`values=`)."""

    section: str

    def __call__(self, key: str, default: Any, **details: Any) -> Any:
        own = key.removeprefix(f"{self.section.upper()}_")
        details.setdefault("values", f"{self.section}.{_camel(own)}")
        return setting(f"X402FAC_{key}", default, **details)


@dataclass(frozen=True, slots=True)
class FamilySettings:
    """How a worker family names its settings, written once: `KEY` is the variable
    X402FAC_<FAMILY>_KEY set by the Helm value `workers.<family>.key` (camel-cased), a per-network one
    X402FAC_<FAMILY>_{net}_KEY set by `workers.<family>.networks[].key`."""

    family: str

    def worker(self, key: str, default: Any, **details: Any) -> Any:
        """A setting of the whole worker (every network)."""
        return setting(f"X402FAC_{self.family.upper()}_{key}", default, values=self._values(key), **details)

    def network(self, key: str, default: Any, **details: Any) -> Any:
        """A per-network setting (`worker_wide`, as in `setting`)."""
        return setting(
            f"X402FAC_{self.family.upper()}_{{net}}_{key}",
            default,
            values=self._values(key, network=True),
            **details,
        )

    def rpc_urls(self, serves: str) -> Any:
        """A network's node URLs; `serves`: what the worker serves once they are set."""
        return self.network(
            "RPC_URLS", (), doc=f"node RPC URLs, tried in order (failover); set, the worker serves {serves}"
        )

    def allowed_assets(self, listed: str, any_asset: str, unset: str = "") -> Any:
        """A network's assets besides its default (`listed`: what they are), or `any`, the explicit
        opt-in into any `any_asset`; `unset`: what no value means."""
        return self.network(
            "ALLOWED_ASSETS",
            (),
            doc=f"{listed} (comma list, listed in /supported), or `any`: {any_asset} (an explicit opt-in){unset}",
        )

    def min_amount(self, asset: str, **details: Any) -> Any:
        """A network's smallest payment, as `N` and/or `<asset>=N` items (`asset`: how an asset is named)."""
        return self.network(
            "MIN_AMOUNT",
            ("1",),
            doc="smallest `amount` accepted, atomic units, never 0 (`amount_below_minimum`): `N` and/or "
            f"`<{asset}>=N` items",
            **details,
        )

    def rpc_timeout(self) -> Any:
        return self.worker("RPC_TIMEOUT", 10.0, doc="seconds per RPC request")

    def confirm_poll(self, default: float, polls: str) -> Any:
        """Seconds between the polls that learn whether settlements are final; `polls`: what is polled."""
        return self.worker("CONFIRM_POLL", default, doc=f"seconds between {polls}")

    def _values(self, key: str, *, network: bool = False) -> str:
        return f"workers.{self.family}.{'networks[].' if network else ''}{_camel(key)}"


def environ(env: Mapping[str, str] | None) -> Mapping[str, str]:
    """`env` itself, or the process environment when it is None (tests pass their own mapping)."""
    return os.environ if env is None else env


def split_list(value: str | None) -> tuple[str, ...]:
    """A comma-separated value as its non-empty, stripped items."""
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def get_raw(env: Mapping[str, str], name: str) -> str | None:
    """The stripped value of `name`, or None when it is unset or blank (blank means: the default)."""
    value = env.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def get_str(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...] = ()) -> str:
    raw = get_raw(env, name)
    if raw is None:
        return default
    if not choices:
        return raw
    for choice in choices:  # any case: `info` is INFO
        if raw.lower() == choice.lower():
            return choice
    raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")


def get_list(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    return split_list(env.get(name)) or default


def _parsed(raw: str, name: str, kind: Callable[[str], N], noun: str) -> N:
    """`raw` read as `kind`, or a `SettingsError` saying that `name` must be `noun`."""
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {noun}, got {raw!r}") from None


def get_int(
    env: Mapping[str, str], name: str, default: int, minimum: int | None = None, maximum: int | None = None
) -> int:
    raw = get_raw(env, name)
    if raw is None:
        return default
    value = _parsed(raw, name, int, "an integer")
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, got {value}")
    return value


def get_float(
    env: Mapping[str, str],
    name: str,
    default: float,
    positive: bool = True,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """A number of seconds (or any float); `positive` refuses zero and negatives."""
    raw = get_raw(env, name)
    if raw is None:
        return default
    value = _parsed(raw, name, float, "a number")
    if not math.isfinite(value) or (positive and value <= 0):
        raise SettingsError(f"{name} must be a {'positive ' if positive else ''}number, got {raw!r}")
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum:g}, got {raw!r}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum:g}, got {raw!r}")
    return value


def get_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = get_raw(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{name} must be one of 1/0, true/false, yes/no, on/off, got {raw!r}")


def read(env: Mapping[str, str], variable: Variable, kind: Any) -> Any:
    """The value of `variable` as `kind` (int, float, bool, str or tuple[str, ...])."""
    name, default = variable.name, variable.default
    if kind is bool:
        return get_bool(env, name, default)
    if kind is int:
        low, high = variable.minimum, variable.maximum
        low = 1 if variable.positive and low is None else low
        return get_int(
            env, name, default, None if low is None else int(low), None if high is None else int(high)
        )
    if kind is float:
        return get_float(
            env, name, default, variable.positive is not False, variable.minimum, variable.maximum
        )
    if kind is str:
        return get_str(env, name, default, variable.choices)
    if typing.get_origin(kind) is tuple:
        return get_list(env, name, default)
    raise TypeError(f"{name}: no parser for {kind!r}")


def _source(field: dataclasses.Field, env: Mapping[str, str], net: str | None) -> Variable | None:
    """The variable a field is read from: a per-network one for `net`, unless the network has no value
    of its own and the setting has a worker-wide twin (with `net` None, only the twin; None when
    there is nothing to read: the field keeps its default)."""
    variable: Variable = field.metadata["variable"]
    if "{net}" not in variable.name:
        return variable
    twin: Variable | None = field.metadata.get("worker_wide")
    own = None if net is None else variable.named(net)
    if own is not None and (twin is None or get_raw(env, own.name) is not None):
        return own
    return twin


def load(
    cls: type[T], env: Mapping[str, str] | None = None, *, net: str | None = None, **overrides: Any
) -> T:
    """`cls` with every `setting(...)` field read from `env` (the process environment by default);
    per-network settings for the network `net`."""
    env = environ(env)
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if "variable" not in field.metadata or field.name in overrides:
            continue
        variable = _source(field, env, net)
        if variable is not None:
            values[field.name] = read(env, variable, hints[field.name])
    return cls(**values, **overrides)


def source(cls: type, name: str, env: Mapping[str, str] | None = None, *, net: str | None = None) -> str:
    """The name of the variable `load(cls, env, net=net)` reads `cls.name` from: for messages about a
    value that parsed but means nothing (a malformed key, an unknown address)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    variable = _source(field, environ(env), net)
    return field.metadata["variable"].name if variable is None else variable.name


def declared(cls: type, field: str) -> Variable:
    """The variable behind `cls.field`: for code that reads one setting alone (`read(env, ...)`)."""
    return next(f.metadata["variable"] for f in dataclasses.fields(cls) if f.name == field)


def declarations(cls: type) -> list[tuple[Variable, Variable | None]]:
    """Each setting of `cls` in declaration order: its variable and its worker-wide twin, if any."""
    return [
        (field.metadata["variable"], field.metadata.get("worker_wide"))
        for field in dataclasses.fields(cls)
        if "variable" in field.metadata
    ]


def variables(cls: type) -> list[Variable]:
    """The variables `load(cls)` reads, in declaration order (a worker-wide twin after its setting)."""
    return [variable for pair in declarations(cls) for variable in pair if variable is not None]


DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_DATA_DIR = ".x402fac"


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What every service reads: where NATS is, logging, the metrics port, the data directory."""

    nats_url: str = setting(
        "X402FAC_NATS_URL",
        DEFAULT_NATS_URL,
        values="externalNats.urls",
        doc="NATS server URLs (comma list, `tls://` with TLS); the chart points it at its NATS or "
        "`externalNats.urls`",
    )
    nats_user: str = setting(
        "X402FAC_NATS_USER",
        "",
        values=None,
        doc="the NATS user this service connects as (its role: ledger, gateway, worker-<family>, admin; NATS "
        "refuses anonymous clients); `x402fac run` and the chart set it per service",
    )
    nats_password: str = setting(
        "X402FAC_NATS_PASSWORD",
        "",
        values="natsAuth.existingSecret",
        secret=True,
        doc="that user's password; the chart takes each service's from the Secret `natsAuth.existingSecret`",
    )
    nats_tls_ca: str = setting(
        "X402FAC_NATS_TLS_CA",
        "",
        values=None,
        doc="CA certificate file that signed the NATS servers' certificates: set, every connection is TLS "
        "(the chart sets it when `natsTls.enabled`)",
    )
    nats_tls_cert: str = setting(
        "X402FAC_NATS_TLS_CERT",
        "",
        values=None,
        doc="client certificate file, for servers that verify clients",
    )
    nats_tls_key: str = setting("X402FAC_NATS_TLS_KEY", "", values=None, doc="its private key file")
    data_dir: str = setting(
        "X402FAC_DATA_DIR",
        DEFAULT_DATA_DIR,
        values="dataDir",
        doc="local state: the devnet-<family>.json files a worker serves when no network is configured; "
        "under `x402fac run` also the JetStream store and the logs",
    )
    log_level: str = setting(
        "X402FAC_LOG_LEVEL",
        "INFO",
        values="log.level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        doc="log level",
    )
    log_format: str = setting(
        "X402FAC_LOG_FORMAT",
        "json",
        values="log.format",
        choices=("json", "text"),
        doc="log lines as JSON, or `text` for humans",
    )
    metrics_port: int = setting(
        "X402FAC_METRICS_PORT",
        0,
        values="metrics.port",
        minimum=0,
        maximum=65535,
        doc="serve /metrics on this port (ledger, workers; the gateway also serves it on its own port); 0: "
        "off",
    )
    trace_console: bool = setting(
        "X402FAC_TRACE_CONSOLE",
        False,
        values="tracing.console",
        doc="print spans on stdout (OTEL_* set the rest)",
    )


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """What every worker's pipeline reads (x402fac.worker.service)."""

    settle_ack_wait: float = setting(
        "X402FAC_SETTLE_ACK_WAIT",
        5.0,
        values="workers.{family}.settleAckWait",
        doc="seconds a settle work item may go unacknowledged before another replica takes it",
    )
    reconcile_interval: float = setting(
        "X402FAC_RECONCILE_INTERVAL",
        5.0,
        values="workers.{family}.reconcileInterval",
        doc="seconds between passes of the reconciler over pending settlements",
    )
