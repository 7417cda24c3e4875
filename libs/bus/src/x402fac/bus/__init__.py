"""NATS plumbing: connection, subjects, typed request/reply, micro services, KV and counter helpers."""

from . import access, reply_mux, subjects
from .access import BusUsers
from .connection import Credentials, connect, disconnect, nats_url
from .counters import current_window, ensure_rate_stream, increment
from .embedded import EmbeddedNats, TlsFiles, free_port, nats_server_binary
from .jetstream import FastJetStream
from .kv import bucket_keys, decode_key, encode_key, ensure_bucket, read_entry, watch_all
from .pull import LingeringPull
from .rpc import BusError, BusTimeout, RemoteError, Unavailable, encode, request, request_raw
from .service import Handler, ServiceRunner
from .tasks import cancel_and_wait
from .workqueue import (
    DELIVERY_HEADER,
    NO_REPLY,
    REPLY_HEADER,
    Answered,
    HandOff,
    ReplyInbox,
    WorkConsumer,
    answer_confirmed,
)

__all__ = [
    "Answered",
    "DELIVERY_HEADER",
    "BusError",
    "BusUsers",
    "Credentials",
    "BusTimeout",
    "EmbeddedNats",
    "FastJetStream",
    "Handler",
    "HandOff",
    "LingeringPull",
    "NO_REPLY",
    "REPLY_HEADER",
    "RemoteError",
    "TlsFiles",
    "ReplyInbox",
    "ServiceRunner",
    "Unavailable",
    "WorkConsumer",
    "answer_confirmed",
    "cancel_and_wait",
    "connect",
    "disconnect",
    "current_window",
    "decode_key",
    "encode",
    "encode_key",
    "bucket_keys",
    "ensure_bucket",
    "read_entry",
    "watch_all",
    "ensure_rate_stream",
    "free_port",
    "increment",
    "nats_server_binary",
    "nats_url",
    "request",
    "request_raw",
    "access",
    "reply_mux",
    "subjects",
]
