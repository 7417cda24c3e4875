"""Messages between workers/gateways and the ledger service (internal wire, msgspec JSON over NATS).

A settlement record moves claimed -> submitted (transaction id known, maybe broadcast) ->
settled | failed. Only the ledger writes records; every transition is a compare-and-set on the
record's revision, so a stale writer can never overwrite a newer state.
"""

from enum import StrEnum

import msgspec

from .types import SettleResponse


class RecordState(StrEnum):
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    SETTLED = "settled"
    FAILED = "failed"


FINAL_STATES = frozenset({RecordState.SETTLED, RecordState.FAILED})


class SettlementRecord(msgspec.Struct, omit_defaults=True):
    payment_id: str
    family: str
    network: str
    payer: str
    amount: str
    state: RecordState
    created_at: float
    updated_at: float
    transaction: str = ""
    hint: str = ""  # what another process needs to judge the transaction (Prepared.hint)
    response: SettleResponse | None = None
    secondary_keys: list[str] = msgspec.field(default_factory=list)


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # this caller owns the settlement now
    EXISTS = "exists"  # a record exists: see `record`
    RATE_LIMITED = "rate_limited"  # payer over its settle limit; nothing claimed
    DUPLICATE = "duplicate"  # a secondary key (e.g. a Solana memo) is held by another payment


class ClaimRequest(msgspec.Struct):
    payment_id: str
    family: str
    network: str
    payer: str
    amount: str
    # Further keys that must be unique across payments (one purchase per memo, ...).
    secondary_keys: list[str] = msgspec.field(default_factory=list)


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
    payment_id: str
    revision: int
    response: SettleResponse


class ReleaseRequest(msgspec.Struct):
    """Drop a claim whose payment never reached the chain, so a later retry may settle it."""

    payment_id: str
    revision: int
    reason: str = ""


class UpdateReply(msgspec.Struct, omit_defaults=True):
    ok: bool
    revision: int = 0
    record: SettlementRecord | None = None


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
