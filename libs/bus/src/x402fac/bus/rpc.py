"""Typed request/reply over NATS with timeouts, trace context and one error convention.

A service that fails answers with header `X402-Error: <code>` and a short message body; callers get
`RemoteError`. No responders -> `Unavailable`; no answer in time -> `BusTimeout`.
"""

import time
from typing import Any, TypeVar

import msgspec
import nats.errors
from nats.aio.client import Client

from x402fac.telemetry import BUS_LATENCY, client_span, labelled, tracer

from . import reply_mux
from .tracing import inject

T = TypeVar("T")
ERROR_HEADER = "X402-Error"


class BusError(Exception):
    pass


class Unavailable(BusError):
    """Nobody listens on the subject (no live service)."""


class BusTimeout(BusError):
    """The service did not answer in time; the outcome is unknown."""


class RemoteError(BusError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


_encoder = msgspec.json.Encoder()
_tracer = tracer("x402fac.bus")


def encode(message: Any) -> bytes:
    return message if isinstance(message, bytes) else _encoder.encode(message)


async def request_raw(
    nc: Client, subject: str, payload: bytes, timeout: float, headers: dict[str, str] | None = None
) -> bytes:
    started = time.perf_counter()
    try:
        with client_span(_tracer, f"nats {subject}", **{"messaging.destination.name": subject}):
            # No headers, no header block: a plain PUB costs the server and the receiver less.
            msg = await reply_mux.request(nc, subject, payload, timeout, inject(headers) or None)
    except nats.errors.NoRespondersError:
        raise Unavailable(subject) from None
    except nats.errors.TimeoutError:
        raise BusTimeout(subject) from None
    finally:
        labelled(BUS_LATENCY, subject).observe(time.perf_counter() - started)
    if msg.headers and ERROR_HEADER in msg.headers:
        raise RemoteError(msg.headers[ERROR_HEADER], msg.data.decode(errors="replace"))
    return msg.data


async def request(nc: Client, subject: str, message: Any, reply_type: type[T], timeout: float) -> T:
    data = await request_raw(nc, subject, encode(message), timeout)
    return msgspec.json.decode(data, type=reply_type)
