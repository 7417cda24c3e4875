"""Subject, stream and bucket names: the whole NATS namespace of x402fac in one place.

Service subjects live under `x402.`; stream subjects under their own prefixes (`x402rl.`,
`x402audit.`, `x402work.`) so a stream can never answer a service request with a pub-ack.
"""

from functools import partial
from typing import Final

SERVICE_PREFIX: Final = "x402"


def _service(family: str, action: str) -> str:
    return f"{SERVICE_PREFIX}.{family}.{action}"


# A family's request-reply subjects: any replica answers verify and supported; every replica hears
# detach (the settle request with this id stopped waiting) and answers status (who it is, whether it
# settles, what it holds).
verify = partial(_service, action="verify")
supported = partial(_service, action="supported")
detach = partial(_service, action="detach")
status = partial(_service, action="status")


def queue_group(family: str) -> str:
    """The queue group a family's replicas share for verify and supported."""
    return f"{SERVICE_PREFIX}.{family}"


def settle(family: str) -> str:
    """Settle requests are work on a stream (they must outlive the worker that takes them)."""
    return f"{WORK_PREFIX}.settle.{family}"


def settle_group(family: str) -> str:
    """The durable queue consumer a family's worker replicas share."""
    return f"settle-{family}"


# The ledger's request-reply subjects, spelled out as they appear on the bus (under SERVICE_PREFIX).
LEDGER_QUEUE: Final = "x402.ledger"
LEDGER_CLAIM: Final = "x402.ledger.claim"
LEDGER_SUBMIT: Final = "x402.ledger.submit"
LEDGER_FINALIZE: Final = "x402.ledger.finalize"
LEDGER_RELEASE: Final = "x402.ledger.release"
LEDGER_LOOKUP: Final = "x402.ledger.lookup"
LEDGER_PENDING: Final = "x402.ledger.pending"
LEDGER_DETACH: Final = "x402.ledger.detach"
LEDGER_KEY_CREATE: Final = "x402.ledger.key.create"  # self-service, or admin with its token
LEDGER_KEY_ISSUE: Final = "x402.ledger.key.issue"  # the operator's (bus user admin)
LEDGER_KEY_CHECK: Final = "x402.ledger.key.check"
LEDGER_KEY_GET: Final = "x402.ledger.key.get"
LEDGER_KEY_LIST: Final = "x402.ledger.key.list"
LEDGER_KEY_REVOKE: Final = "x402.ledger.key.revoke"
LEDGER_USAGE: Final = "x402.ledger.usage"
LEDGER_RECENT: Final = "x402.ledger.recent"
LEDGER_WHITELIST_ADD: Final = "x402.ledger.whitelist.add"
LEDGER_WHITELIST_REMOVE: Final = "x402.ledger.whitelist.remove"
LEDGER_WHITELIST_GET: Final = "x402.ledger.whitelist.get"
LEDGER_WHITELIST_LIST: Final = "x402.ledger.whitelist.list"

# Headers a gateway puts on a settle request: who asks, and until when it waits for the answer.
REQUEST_ID_HEADER: Final = "X402fac-Request-Id"
DEADLINE_HEADER: Final = "X402fac-Deadline"
# The id (never the secret) of the API key a verify/settle came with, so its audit entry names it.
API_KEY_HEADER: Final = "X402fac-Api-Key-Id"

# JetStream storage (declared by the ledger, which owns the schema).
SETTLEMENTS_BUCKET: Final = "x402fac_settlements"
SECONDARY_BUCKET: Final = "x402fac_secondary"
LEASES_BUCKET: Final = "x402fac_leases"  # signer-pool leases and the replicas announcing themselves
RATE_STREAM: Final = "X402FAC_RATE"
RATE_PREFIX: Final = "x402rl"
AUDIT_STREAM: Final = "X402FAC_AUDIT"
WORK_STREAM: Final = "X402FAC_WORK"
WORK_PREFIX: Final = "x402work"
# The work stream keeps one copy per Nats-Msg-Id for this long: a gateway publishes a settle again
# under its id until the settle's deadline, so a settle timeout must stay below it.
WORK_DUPLICATE_WINDOW_SECONDS: Final = 120.0
AUDIT_PREFIX: Final = "x402audit"
KEYS_BUCKET: Final = "x402fac_keys"
WHITELIST_BUCKET: Final = "x402fac_whitelist"
USAGE_STREAM: Final = "X402FAC_USAGE"  # counters per key and hour/day, summed from the audit stream
USAGE_PREFIX: Final = "x402usage"
RECENT_STREAM: Final = "X402FAC_RECENT"  # the latest settle outcomes of each key
RECENT_PREFIX: Final = "x402recent"
QUOTA_STREAM: Final = "X402FAC_QUOTA"  # hourly counters (self-service key creation per IP)
QUOTA_PREFIX: Final = "x402quota"
USAGE_CONSUMER: Final = "usage"  # the ledger replicas' shared durable consumer on the audit stream


AUDIT_BATCH_KIND: Final = "verifies"  # x402audit.verifies.<family>: an AuditBatch of verify outcomes


def audit(kind: str, family: str) -> str:
    return f"{AUDIT_PREFIX}.{kind}.{family}"


def rate(scope: str, key: str, window: int) -> str:
    """Counter subject for one key in one window, e.g. rate("ip.verify", "=3A=3A1", 29512345)."""
    return f"{RATE_PREFIX}.{scope}.{key}.{window}"
