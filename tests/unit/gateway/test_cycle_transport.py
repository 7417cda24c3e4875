"""An answer with a known length leaves the gateway in one socket write (head and body together);
an interim 100 Continue, a HEAD answer and a chunked answer are written as they come; a close sends
what is held first."""

from types import SimpleNamespace

from x402fac.gateway.server import _CycleTransport


class Socket:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True


def cycle(method: str = "POST", chunked: bool = False) -> SimpleNamespace:
    return SimpleNamespace(response_started=False, chunked_encoding=chunked, scope={"method": method})


def transport(request: SimpleNamespace) -> tuple[_CycleTransport, Socket]:
    socket = Socket()
    protocol = SimpleNamespace(_read_deadline=None, _close_when_read=False)
    return _CycleTransport(socket, protocol, request), socket  # type: ignore[arg-type]


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


def test_head_and_body_go_in_one_write():
    request = cycle()
    wrapped, socket = transport(request)
    wrapped.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the answer starts: at once
    assert socket.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    request.response_started = True
    wrapped.write(HEAD)
    assert len(socket.writes) == 1  # held for the body
    wrapped.write(b"{}")
    assert socket.writes[1:] == [HEAD + b"{}"]
    wrapped.write(b"")  # nothing held any more: later writes pass as they are
    assert socket.writes[2:] == [b""]


def test_an_empty_body_still_carries_the_head():
    request = cycle()
    wrapped, socket = transport(request)
    request.response_started = True
    wrapped.write(HEAD)
    wrapped.write(b"")
    assert socket.writes == [HEAD]


def test_head_and_chunked_answers_are_not_held():
    for request in (cycle("HEAD"), cycle(chunked=True)):
        wrapped, socket = transport(request)
        request.response_started = True
        wrapped.write(HEAD)
        assert socket.writes == [HEAD]


def test_a_close_sends_the_held_head_first():
    request = cycle()
    wrapped, socket = transport(request)
    request.response_started = True
    wrapped.write(HEAD)
    wrapped.close()  # the app failed after starting its answer
    assert socket.writes == [HEAD] and socket.closed
