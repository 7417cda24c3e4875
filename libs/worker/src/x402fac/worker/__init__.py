"""What every network worker shares: the scheme interface, the settlement pipeline, service wiring."""

from x402fac.bus import HandOff

from .ledger_client import LedgerClient
from .pipeline import Pipeline, check_binding
from .scheme import (
    Confirmation,
    Identity,
    Invalid,
    NetworkRuntime,
    NetworkScheme,
    Outcome,
    Prepared,
    Rejected,
    Scheme,
    Submitted,
    SupportedPart,
)
from .service import WorkerService, run_worker, supported_of

__all__ = [
    "LedgerClient",
    "Pipeline",
    "WorkerService",
    "check_binding",
    "run_worker",
    "supported_of",
    "Confirmation",
    "Identity",
    "Invalid",
    "NetworkRuntime",
    "NetworkScheme",
    "Outcome",
    "Prepared",
    "Rejected",
    "Scheme",
    "Submitted",
    "SupportedPart",
    "HandOff",
]
