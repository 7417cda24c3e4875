"""Who may do what on the bus: one NATS user per role, each allowed only the subjects its role needs.

Roles: `ledger` (owns every bucket and stream: the only user of the JetStream API beyond the work
queue), `gateway` (asks for verifies, queues settle work, calls the ledger's key, whitelist, discovery
and payment-identifier subjects, counts its rate limits), `worker-<family>` (serves its family's
subjects and takes its family's settle work, calls the ledger's settlement subjects; EVM workers also
hold signer leases in their bucket) and `admin` (the operator CLI: keys, whitelist, discovery).

Everything not allowed is refused by the server. Each user's inboxes live under `_INBOX.<user>`, so no
other user can subscribe to its replies; answers to requests a user received go back through
`allow_responses` (one answer per request) rather than a publish right on anyone's inbox. A settle
answer goes to `_X402R.<family>.…` (x402fac.bus.workqueue): only that family's workers may send it.

`make run`, the tests and the cluster suite generate one password per user at start
(`BusUsers.generate`); the chart takes them from a Secret (docs/operations.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from x402fac.protocol import FAMILIES

from . import subjects
from .workqueue import REPLY_PREFIX

LEDGER = "ledger"
GATEWAY = "gateway"
ADMIN = "admin"


def worker(family: str) -> str:
    return f"worker-{family}"


def roles(families: tuple[str, ...] = FAMILIES) -> tuple[str, ...]:
    return (LEDGER, GATEWAY, ADMIN, *(worker(family) for family in families))


def inbox_prefix(user: str) -> str:
    """Where a user's request replies (and JetStream deliveries) arrive: only it may subscribe there."""
    return f"_INBOX.{user}"


def _ledger_subjects(*names: str) -> list[str]:
    return [f"{subjects.SERVICE_PREFIX}.ledger.{name}" for name in names]


# What the gateway asks the ledger for: keys, limits of the admin API it fronts, the whitelist, the
# discovery catalog and payment identifiers; never a settlement record.
GATEWAY_LEDGER = _ledger_subjects(
    "key.create",
    "key.check",
    "key.get",
    "key.list",
    "key.revoke",
    "usage",
    "recent",
    "whitelist.*",
    "discovery.*",
    "payment_id.*",
)
# What a worker asks the ledger for: the life of a settlement record.
WORKER_LEDGER = _ledger_subjects("claim", "submit", "finalize", "release", "lookup", "pending", "detach")
ADMIN_LEDGER = _ledger_subjects("key.*", "whitelist.*", "discovery.*", "usage", "recent")
# The operator also watches the services: their nats.micro stats and what each family supports.
ADMIN_WATCH = ["$SRV.>", f"{subjects.SERVICE_PREFIX}.*.supported"]


def _micro(service: str) -> list[str]:
    """A nats.micro service's discovery subjects ($SRV.PING|INFO|STATS, by name and by id)."""
    return ["$SRV.PING", "$SRV.INFO", "$SRV.STATS", f"$SRV.*.{service}", f"$SRV.*.{service}.*"]


def _bucket_client(bucket: str) -> list[str]:
    """Read and write one KV bucket's entries (and list its keys), nothing else of the JetStream API."""
    stream = f"KV_{bucket}"
    api = "$JS.API"
    return [
        f"$KV.{bucket}.>",
        f"{api}.STREAM.INFO.{stream}",
        f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.DELETE.{stream}.>",
        f"{api}.CONSUMER.INFO.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def _work_consumer(stream: str, durable: str) -> list[str]:
    """Take work from one durable consumer of a work-queue stream (created on first use)."""
    api = "$JS.API"
    return [
        f"{api}.CONSUMER.INFO.{stream}.{durable}",
        f"{api}.CONSUMER.CREATE.{stream}.{durable}",
        f"{api}.CONSUMER.CREATE.{stream}.{durable}.>",
        f"{api}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


@dataclass(frozen=True, slots=True)
class Permissions:
    publish: list[str]
    subscribe: list[str]

    def server_config(self) -> dict:
        """The `permissions` block of a nats-server user."""
        return {
            "publish": {"allow": self.publish},
            "subscribe": {"allow": self.subscribe},
            "allow_responses": True,
        }


def permissions(role: str, families: tuple[str, ...] = FAMILIES) -> Permissions:
    inbox = f"{inbox_prefix(role)}.>"
    if role == LEDGER:
        streams = [subjects.RATE_PREFIX, subjects.USAGE_PREFIX, subjects.RECENT_PREFIX, subjects.QUOTA_PREFIX]
        # Its own subjects too: it owns what they serve, and its tools (and tests) ask through them.
        return Permissions(
            publish=[
                "$JS.API.>",
                "$KV.>",
                "$JS.ACK.>",
                "$JS.FC.>",
                *(f"{s}.>" for s in streams),
                f"{subjects.SERVICE_PREFIX}.ledger.>",
            ],
            subscribe=[f"{subjects.SERVICE_PREFIX}.ledger.>", inbox, *_micro("x402fac-ledger")],
        )
    if role == GATEWAY:
        per_family = [
            subject
            for family in families
            for subject in (
                subjects.verify(family),
                subjects.supported(family),
                subjects.status(family),
                subjects.detach(family),
                subjects.settle(family),
            )
        ]
        return Permissions(
            publish=[*per_family, f"{subjects.RATE_PREFIX}.>", *GATEWAY_LEDGER],
            subscribe=[inbox, f"{REPLY_PREFIX}.>"],
        )
    if role == ADMIN:
        return Permissions(publish=[*ADMIN_LEDGER, *ADMIN_WATCH], subscribe=[inbox])
    for family in families:
        if role == worker(family):
            leases = _bucket_client(subjects.LEASES_BUCKET) if family == "evm" else []
            return Permissions(
                publish=[
                    *WORKER_LEDGER,
                    subjects.audit("*", family),
                    f"{REPLY_PREFIX}.{family}.>",
                    *_work_consumer(subjects.WORK_STREAM, subjects.settle_group(family)),
                    *leases,
                ],
                subscribe=[
                    f"{subjects.SERVICE_PREFIX}.{family}.*",
                    inbox,
                    *_micro(f"x402fac-{family}"),
                ],
            )
    raise ValueError(f"no such bus role: {role}")


@dataclass(frozen=True, slots=True)
class BusUsers:
    """One password per role: what the server is configured with and what each service connects as."""

    passwords: dict[str, str] = field(default_factory=dict)

    @classmethod
    def generate(cls, families: tuple[str, ...] = FAMILIES) -> BusUsers:
        return cls({role: secrets.token_urlsafe(24) for role in roles(families)})

    def server_users(self, families: tuple[str, ...] = FAMILIES) -> list[dict]:
        """The `authorization.users` list of a nats-server configuration."""
        return [
            {"user": role, "password": password, "permissions": permissions(role, families).server_config()}
            for role, password in self.passwords.items()
        ]

    def env(self, role: str) -> dict[str, str]:
        """The variables a service of `role` connects with."""
        return {"X402FAC_NATS_USER": role, "X402FAC_NATS_PASSWORD": self.passwords[role]}
