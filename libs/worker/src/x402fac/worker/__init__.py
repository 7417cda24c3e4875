"""What every network worker shares: the scheme interface, the settlement pipeline, service wiring."""

from .scheme import (
    Confirmation,
    Identity,
    Invalid,
    Outcome,
    Prepared,
    Rejected,
    Scheme,
    SupportedPart,
    Verified,
)

__all__ = [
    "Confirmation",
    "Identity",
    "Invalid",
    "Outcome",
    "Prepared",
    "Rejected",
    "Scheme",
    "SupportedPart",
    "Verified",
]
