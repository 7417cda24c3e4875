"""A request with nothing to carry goes without a header block (a plain PUB, cheaper for the server
and the receiver); headers given, or a trace going on, still travel."""

from nats.aio.msg import Msg
from opentelemetry.sdk.trace import TracerProvider

from x402fac.bus import request_raw


class RecordingConnection:
    """Stands in for the NATS connection: records each publish and answers it at once."""

    def __init__(self) -> None:
        self.published: list[dict | None] = []
        self._handover = None

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, future=None, **_):
        self._handover = future

    async def publish(self, subject: str, payload: bytes, reply: str = "", headers=None) -> None:
        self.published.append(headers)
        self._handover.set_result(Msg(self, subject=reply, data=b"answer"))


async def test_no_headers_no_header_block_and_given_ones_travel():
    nc = RecordingConnection()
    assert await request_raw(nc, "x402.evm.verify", b"{}", 1.0) == b"answer"
    assert await request_raw(nc, "x402.evm.verify", b"{}", 1.0, {}) == b"answer"
    await request_raw(nc, "x402.evm.verify", b"{}", 1.0, {"X402-Api-Key": "k1"})
    with TracerProvider().get_tracer("test").start_as_current_span("gateway.verify"):
        await request_raw(nc, "x402.evm.verify", b"{}", 1.0)
    assert nc.published[:3] == [None, None, {"X402-Api-Key": "k1"}]
    assert set(nc.published[3]) == {"traceparent"}
