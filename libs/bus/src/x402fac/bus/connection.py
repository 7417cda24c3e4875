"""NATS connection with reconnects that never give up (services outlive NATS restarts)."""

import asyncio
import logging
import ssl
from dataclasses import dataclass

from nats.aio.client import Client

from x402fac.settings import ServiceSettings, load

from .access import inbox_prefix
from .lean import LeanClient
from .tasks import cancel_and_wait

log = logging.getLogger(__name__)
AUTHORIZATION_VIOLATION = "authorization violation"
DRAIN_SECONDS = 5.0  # what is left to drain once a service stopped: replies and publishes in flight


def nats_url() -> str:
    """X402FAC_NATS_URL: one URL or a comma list of a cluster's."""
    return load(ServiceSettings).nats_url


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who a connection is (its user and password) and how it trusts the server (TLS files)."""

    user: str = ""
    password: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""

    @classmethod
    def from_settings(cls) -> "Credentials":
        settings = load(ServiceSettings)
        return cls(
            settings.nats_user,
            settings.nats_password,
            settings.nats_tls_ca,
            settings.nats_tls_cert,
            settings.nats_tls_key,
        )

    def tls(self) -> ssl.SSLContext | None:
        if not self.tls_ca:
            return None
        context = ssl.create_default_context(cafile=self.tls_ca)
        if self.tls_cert:
            context.load_cert_chain(self.tls_cert, self.tls_key or None)
        return context

    def options(self) -> dict:
        """nats.connect() keyword arguments: the user, its own inbox prefix, TLS."""
        options: dict = {}
        if self.user:
            options.update(user=self.user, password=self.password, inbox_prefix=inbox_prefix(self.user))
        if (context := self.tls()) is not None:
            options["tls"] = context
        return options


async def connect(
    url: str | None = None, name: str = "x402fac", credentials: Credentials | None = None
) -> Client:
    """Connect as `credentials` (default: X402FAC_NATS_USER / _PASSWORD / _TLS_*). A server that is
    not there yet is waited for; one that refuses the login raises `PermissionError` at once (the
    client would retry a wrong password for ever)."""
    credentials = credentials or Credentials.from_settings()
    refused: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def on_disconnect() -> None:
        log.warning("NATS disconnected")

    async def on_reconnect() -> None:
        log.info("NATS reconnected")

    async def on_error(exc: Exception) -> None:
        log.warning("NATS error: %s", exc)
        if not refused.done() and AUTHORIZATION_VIOLATION in str(exc).lower():
            refused.set_result(exc)

    client = LeanClient()

    async def connected() -> Client:
        await client.connect(
            servers=(url or nats_url()).split(","),
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            connect_timeout=5,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
            error_cb=on_error,
            **credentials.options(),
        )
        return client

    connecting = asyncio.ensure_future(connected())
    await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
    if connecting.done():
        return connecting.result()
    await cancel_and_wait(connecting)
    raise PermissionError(
        f"NATS refused the login of user {credentials.user or '(none)'!r} ({refused.result()}): "
        "check X402FAC_NATS_USER and X402FAC_NATS_PASSWORD"
    )


async def disconnect(nc: Client, timeout: float = DRAIN_SECONDS) -> None:
    """Drain (let in-flight messages finish) when NATS is there; close at once when it is not, so a
    service stopping together with its NATS server (Ctrl-C on `make run`) exits instead of waiting.

    Bounded by `timeout` for certain: nats-py's drain swallows a cancellation and then flushes, so it
    is not cancelled and awaited (as `asyncio.wait_for` would) but left behind for a plain close."""
    if nc.is_closed:
        return
    if not nc.is_connected:
        await nc.close()
        return
    drain = asyncio.ensure_future(nc.drain())
    await asyncio.wait({drain}, timeout=timeout)
    error = drain.exception() if drain.done() else TimeoutError(f"not done in {timeout:g}s")
    if error is None and nc.is_closed:
        return
    # Timed out, or NATS went away meanwhile: the process is stopping anyway.
    log.warning("NATS drain did not finish (%r): closing", error)
    await cancel_and_wait(drain, 1.0)
    if not nc.is_closed:
        await nc.close()
