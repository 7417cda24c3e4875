"""Messages between workers/gateways and the ledger service (internal wire, msgspec JSON over NATS).

A settlement record moves claimed -> submitted (transaction id known, maybe broadcast) ->
settled | failed. Only the ledger writes records; every transition is a compare-and-set on the
record's revision, so a stale writer can never overwrite a newer state.

One payment, one success: a record has at most one *attached* requester (a settle request still
waiting for its answer, until its deadline). A success is handed only to the attached requester, and
only once (`delivered_at`); every other copy of the payment is told `duplicate_settlement`.

A requester *holds* a record while it is attached to it or the success was delivered to it, and it
holds it through one *attempt* (one worker's handling of the request; a work item delivered again is
a new attempt). Before that attempt answers anything but the success, it detaches: the ledger ends the
attachment and undoes a delivery, in one compare-and-set. A finalize delivers only to the attempt
attached at the moment it is written, so a finalize that reaches the ledger after the detach delivers
to nobody, and one that came first is undone by it: the success stays for the retry.
"""

from enum import StrEnum
from typing import Any

import msgspec

from .types import PaymentRequirements, SettleResponse


class RecordState(StrEnum):
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    SETTLED = "settled"
    FAILED = "failed"


FINAL_STATES = frozenset({RecordState.SETTLED, RecordState.FAILED})


class PaymentFacts(msgspec.Struct):
    """What the ledger knows a payment by: the same in a claim and in the record it creates."""

    payment_id: str
    family: str
    network: str
    payer: str
    amount: str

    def _facts(self) -> tuple[str, str, str, str, str]:
        return self.payment_id, self.family, self.network, self.payer, self.amount

    def record(self, state: RecordState, at: float = 0.0, **rest: Any) -> "SettlementRecord":
        """The payment's record in `state`, created and updated `at` (epoch seconds; a worker's view
        leaves the times to the ledger)."""
        return SettlementRecord(*self._facts(), state, at, at, **rest)

    def claim(
        self,
        requester: str,
        deadline: float,
        attempt: str = "",
        secondary_keys: list[str] | None = None,
        transaction: str = "",
        hint: str = "",
    ) -> "ClaimRequest":
        """The claim of the payment by `requester`'s `attempt`, waiting until `deadline`; with
        `transaction`, a new record is created submitted with it (and `hint`)."""
        return ClaimRequest(
            *self._facts(), requester, deadline, attempt, secondary_keys or [], transaction, hint
        )


class SettlementRecord(PaymentFacts, omit_defaults=True):
    state: RecordState
    created_at: float
    updated_at: float
    transaction: str = ""
    hint: str = ""  # what another process needs to judge the transaction (Prepared.hint)
    response: SettleResponse | None = None
    secondary_keys: list[str] = msgspec.field(default_factory=list)
    attached: str = ""  # id of the settle request waiting for this payment's answer ("" none)
    attached_until: float = 0.0  # that request's deadline (epoch seconds); after it, nobody waits
    delivered_at: float = 0.0  # when the success was handed to a requester (0: not yet)
    delivered_to: str = ""  # that requester (a redelivered copy of the same request gets it again)
    attempt: str = ""  # the attempt through which the attached (or delivered-to) requester holds it

    def attached_live(self, now: float) -> bool:
        return bool(self.attached) and now < self.attached_until


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # a new record: this requester owns the settlement and is attached
    ATTACHED = "attached"  # an existing record nobody waits for: this requester took it over
    BUSY = "busy"  # another requester is attached and still waiting: this copy is a duplicate
    DELIVERED = "delivered"  # the success was already handed out (see record.delivered_to)
    FAILED = "failed"  # the payment failed for good: `record.response` is the answer
    RATE_LIMITED = "rate_limited"  # payer over its settle limit; nothing claimed
    DUPLICATE = "duplicate"  # a secondary key (e.g. a Solana memo) is held by another payment


class ClaimRequest(PaymentFacts):
    requester: str  # id of the settle request asking (attached on success)
    deadline: float  # epoch seconds after which that request no longer waits for an answer
    attempt: str = ""  # this handling of the request (a redelivered work item is a new attempt)
    # Further keys that must be unique across payments (one purchase per memo, ...).
    secondary_keys: list[str] = msgspec.field(default_factory=list)
    # The transaction the claimer prepared (docs/design.md, 2.3): a record this claim creates is
    # `submitted` with it at once. An existing record keeps its own (the claimer sends nothing).
    transaction: str = ""
    hint: str = ""


class ClaimReply(msgspec.Struct, omit_defaults=True):
    status: ClaimStatus
    revision: int = 0
    record: SettlementRecord | None = None
    retry_after: int = 0


class SubmitRequest(msgspec.Struct):
    """Record the transaction id before it is broadcast (a crash after this is reconcilable)."""

    payment_id: str
    revision: int
    transaction: str
    hint: str = ""


class FinalizeRequest(msgspec.Struct):
    """Store the chain's final verdict (unless one is stored already) and, for a success, hand it to
    `requester` if that request is attached through `attempt` and its deadline has not passed."""

    payment_id: str
    revision: int  # the revision the caller last saw (a hint: the ledger retries on a newer one)
    response: SettleResponse
    requester: str = ""  # "" (reconciler): store only, deliver to nobody
    attempt: str = ""


class ReleaseReason(StrEnum):
    """Why a claim is dropped; in each case nothing of the payment is on the chain."""

    INVALID = "invalid"  # verification or preparation refused the payment
    HANDED_OFF = "handed_off"  # this replica cannot settle now; another replica takes the request
    INTERNAL_ERROR = "internal_error"  # preparing it failed unexpectedly, before anything was recorded
    REJECTED = "rejected"  # the node refused the broadcast, and the payment may be settled later
    DROPPED = "dropped"  # the chain dropped the recorded transaction and never will include it
    STALE = "stale_claim"  # claimed long ago, nothing recorded, nobody waiting: its worker died


class ReleaseRequest(msgspec.Struct):
    """Drop a claim whose payment never reached the chain, so a later retry may settle it."""

    payment_id: str
    revision: int
    reason: ReleaseReason


class DetachRequest(msgspec.Struct):
    """The requester is answered without the success, or the success never reached it (answered
    pending, its gateway gave up, died or its caller hung up): it holds the record no longer, so a
    retry may take the payment over. Ends the attachment and undoes a delivery made to it.

    Only the attempt holding the record lets it go: an attempt that lost it to a newer attempt of the
    same request (its work item delivered again) changes nothing."""

    payment_id: str
    requester: str
    attempt: str = ""


class UpdateReply(msgspec.Struct, omit_defaults=True):
    ok: bool  # detach: the requester holds the record no more (or never did)
    revision: int = 0
    record: SettlementRecord | None = None
    delivered: bool = False  # finalize: the success was handed to the requester of this call


class LookupRequest(msgspec.Struct):
    payment_id: str


class PendingRequest(msgspec.Struct):
    family: str
    older_than_seconds: float = 0.0
    limit: int = 100


class PendingReply(msgspec.Struct):
    records: list[SettlementRecord]
    revisions: list[int]


class AuditEvent(msgspec.Struct, omit_defaults=True):
    """One verify/settle outcome, appended to the audit stream."""

    kind: str  # "verify" | "settle"
    family: str
    network: str
    outcome: str  # "valid" / "settled" / a reason code
    at: float
    payer: str = ""
    transaction: str = ""
    payment_id: str = ""
    api_key_id: str = ""
    asset: str = ""  # settled: the asset and atomic amount paid (usage per asset)
    amount: str = ""
    elapsed_ms: int = 0  # settle: how long the worker took to answer


class AuditBatch(msgspec.Struct):
    """Verify outcomes gathered by one worker over a few milliseconds: one audit entry."""

    events: list[AuditEvent]


# ---- API keys (the ledger stores only a hash of each key) ---------------------------------------


class ApiKey(msgspec.Struct, omit_defaults=True):
    """An API key as the ledger keeps it: never the key itself, only its SHA-256 and a display prefix."""

    id: str  # the first 16 hex digits of the hash: how the key is named in lists, usage and revocation
    name: str
    prefix: str  # the key's first characters, e.g. "x402n_Ab3d", to recognise it in a list
    hash: str  # hex SHA-256 of the whole key
    created_at: float
    origin: str = "admin"  # "cli" | "admin" | "self-service"
    rate_per_minute: int = 0  # verify+settle requests per minute with this key; 0: no per-key limit
    revoked_at: float = 0.0

    @property
    def revoked(self) -> bool:
        return self.revoked_at > 0


class KeyCreateRequest(msgspec.Struct):
    name: str
    rate_per_minute: int = 0
    origin: str = "admin"
    client_ip: str = ""  # self-service: the creator's IP, limited to a few keys per hour
    admin_token: str = ""  # origin admin: the token the admin presented; the ledger checks it


class KeyCreateReply(msgspec.Struct, omit_defaults=True):
    ok: bool
    key: ApiKey | None = None
    secret: str = ""  # the key itself: shown once, never stored
    error: str = ""  # "rate_limited" | "invalid_name" | "too_many_keys"
    retry_after: int = 0


class KeyCheckRequest(msgspec.Struct):
    hash: str  # hex SHA-256 of the presented key


class KeyIdRequest(msgspec.Struct):
    id: str


class KeyReply(msgspec.Struct, omit_defaults=True):
    ok: bool
    key: ApiKey | None = None


class KeyListRequest(msgspec.Struct):
    include_revoked: bool = True


class KeyListReply(msgspec.Struct):
    keys: list[ApiKey]


# ---- usage (aggregated from the audit stream, once per audit entry) ---------------------------------


class UsageRequest(msgspec.Struct):
    key_id: str  # an ApiKey.id, "_anon" (requests without a key) or "*" (every key, rows say which)
    granularity: str = "h"  # "h" (hours) or "d" (days)
    periods: int = 48  # how many of the latest hours/days


class UsageRow(msgspec.Struct):
    """One counter: in `period` (hours or days since the epoch), `kind` ("verify" | "settle" |
    "amount" | "settle_ms") on `network`, with `label` the outcome (or the asset for amounts)."""

    period: int
    kind: str
    network: str
    label: str
    value: str  # a decimal integer (amounts are atomic units and may exceed 64 bits)
    key_id: str = ""


class UsageReply(msgspec.Struct):
    key_id: str
    granularity: str
    rows: list[UsageRow]


class RecentRequest(msgspec.Struct):
    key_id: str
    limit: int = 50


class RecentReply(msgspec.Struct):
    events: list[AuditEvent]


# ---- whitelist (registered payTo addresses) ---------------------------------------------------------


class WhitelistEntry(msgspec.Struct, omit_defaults=True):
    address: str
    networks: list[str]  # CAIP-2 networks it is registered on; ["*"]: every network
    registered_at: float
    note: str = ""


class WhitelistRequest(msgspec.Struct):
    address: str
    networks: list[str] = msgspec.field(default_factory=lambda: ["*"])
    note: str = ""


class WhitelistReply(msgspec.Struct, omit_defaults=True):
    ok: bool
    entry: WhitelistEntry | None = None


class WhitelistListReply(msgspec.Struct):
    entries: list[WhitelistEntry]


# ---- discovery catalog (resources that were paid for, plus operator registrations) -----------------

SUBJECT_DISCOVERY_ADD = "x402.ledger.discovery.add"
SUBJECT_DISCOVERY_LIST = "x402.ledger.discovery.list"
SUBJECT_DISCOVERY_REMOVE = "x402.ledger.discovery.remove"
DISCOVERY_BUCKET = "x402fac_discovery"


class CatalogEntry(msgspec.Struct, omit_defaults=True):
    """One listed resource: a URL (no query or fragment) and the receiver it was paid to."""

    resource: str
    pay_to: str
    accepts: list[PaymentRequirements]
    type: str = "http"  # "http" | "mcp"
    x402_version: int = 2
    description: str = ""
    mime_type: str = ""
    method: str = ""  # HTTP method, or "" for an MCP tool
    bazaar: dict[str, Any] | None = None  # the validated bazaar extension ({info, schema})
    origin: str = "settle"  # "settle" (a settled payment listed it) | "operator"
    settlements: int = 0  # settled payments that listed it
    created_at: float = 0.0
    updated_at: float = 0.0
    seq: int = 0  # order of first listing (the bucket revision that created it): pages stay stable


class DiscoveryAddRequest(msgspec.Struct):
    entry: CatalogEntry


class DiscoveryAddReply(msgspec.Struct, omit_defaults=True):
    ok: bool
    error: str = ""  # "catalog_full" | "pay_to_full" | "invalid"
    entry: CatalogEntry | None = None


class DiscoveryListRequest(msgspec.Struct, omit_defaults=True):
    type: str = ""
    pay_to: str = ""
    network: str = ""
    scheme: str = ""
    query: str = ""  # words that must all occur in the URL, description, method or bazaar info
    limit: int = 100
    offset: int = 0


class DiscoveryListReply(msgspec.Struct):
    entries: list[CatalogEntry]
    total: int


class DiscoveryRemoveRequest(msgspec.Struct):
    resource: str
    pay_to: str = ""  # "" : every receiver of that resource


# ---- payment-identifier (x402 extension): an idempotency key bound to one payload ----------------

SUBJECT_PAYMENT_ID_CLAIM = "x402.ledger.payment_id.claim"
SUBJECT_PAYMENT_ID_FINISH = "x402.ledger.payment_id.finish"
PAYMENT_ID_BUCKET = "x402fac_payment_ids"


class PaymentIdRecord(msgspec.Struct, omit_defaults=True):
    id: str
    digest: str  # SHA-256 of the canonical payment (payload and requirements)
    owner: str  # the settle request working on it ("" : nobody)
    owner_until: float  # its deadline
    created_at: float
    response: SettleResponse | None = None  # the stored success, replayed to the same id + payload


class PaymentIdStatus(StrEnum):
    NEW = "new"  # this request owns the id: settle, then finish
    REPLAY = "replay"  # same id, same payment, success stored: `response` is the answer
    CONFLICT = "conflict"  # same id, another payment
    BUSY = "busy"  # same id and payment, another request is settling it now


class PaymentIdClaim(msgspec.Struct):
    id: str
    digest: str
    requester: str
    deadline: float
    payer: str = ""  # ids are the payer's own: another payer's use of the same id is no conflict
    peek: bool = False  # only look for a stored success (REPLAY); claim nothing


class PaymentIdReply(msgspec.Struct, omit_defaults=True):
    status: PaymentIdStatus
    response: SettleResponse | None = None
    owner_until: float = 0.0


class PaymentIdFinish(msgspec.Struct, omit_defaults=True):
    """Store a success for replay, or (no success) drop the claim so nothing is left behind."""

    id: str
    digest: str
    requester: str
    response: SettleResponse | None = None
    payer: str = ""
