"""The node client's HTTP: sized, chunked and close-delimited answers, keep-alive reuse, a pooled
connection the node closed, credentials from the URL, and failures that say whether the request
can have reached the node."""

import asyncio
import base64
import json
import socket

import pytest

from x402fac.rpc import FailoverHttp, NodeUnavailable
from x402fac.rpc.http import BadStatus, ConnectFailed, HttpNode
from x402fac.telemetry import REGISTRY, metrics_text


class RawNode:
    """A TCP server answering each request it reads with `answer(request)` (raw bytes), counting
    connections and keeping what it received."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.base_events.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/rpc?key=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                reply = self.answer(request)
                writer.write(reply)
                await writer.drain()
                if b"connection: close" in reply.lower():
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def _sized(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def _echo_id(request: bytes) -> bytes:
    call = json.loads(request.split(b"\r\n\r\n", 1)[1])
    return json.dumps({"jsonrpc": "2.0", "id": call["id"], "result": call["params"]}).encode()


@pytest.fixture
async def nodes():
    started: list[RawNode] = []

    async def make(answer) -> tuple[RawNode, str]:
        node = RawNode(answer)
        started.append(node)
        return node, await node.start()

    yield make
    for node in started:
        await node.stop()


async def test_sized_answers_reuse_one_connection_and_the_request_is_well_formed(nodes):
    node, url = await nodes(lambda request: _sized(_echo_id(request)))
    http = FailoverHttp([url.replace("127.0.0.1", "user:p%40ss@127.0.0.1")])
    for n in range(3):
        reply = await http.post_json({"jsonrpc": "2.0", "id": n, "method": "m", "params": [n, "x"]})
        assert reply == {"jsonrpc": "2.0", "id": n, "result": [n, "x"]}
    assert node.connections == 1
    head = node.requests[0].split(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /rpc?key=1 HTTP/1.1\r\n")
    assert f"Authorization: Basic {base64.b64encode(b'user:p@ss').decode()}" in head
    assert "Content-Type: application/json" in head
    await http.close()


async def test_chunked_and_close_delimited_answers(nodes):
    def chunked(request: bytes) -> bytes:
        body = _echo_id(request)
        half = len(body) // 2
        chunks = f"{half:x}\r\n".encode() + body[:half] + f"\r\n{len(body) - half:x}\r\n".encode()
        chunks += body[half:] + b"\r\n0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks

    _, url = await nodes(chunked)
    node = HttpNode(url)
    assert json.loads(await node.post(b'{"id": 7, "params": [1]}', 5)) == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": [1],
    }
    closing, url = await nodes(
        lambda request: b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n" + _echo_id(request)
    )
    node = HttpNode(url)
    for n in range(2):  # the closed connection is not reused: a new one each time
        assert json.loads(await node.post(b'{"id": %d, "params": []}' % n, 5))["id"] == n
    assert closing.connections == 2


async def test_a_pooled_connection_the_node_closed_is_not_reused(nodes):
    node, url = await nodes(lambda request: _sized(_echo_id(request)))
    http = HttpNode(url)
    await http.post(b'{"id": 1, "params": []}', 5)
    for writer in node.writers:  # the node drops its idle keep-alive connection
        writer.close()
    await asyncio.sleep(0.1)
    assert json.loads(await http.post(b'{"id": 2, "params": []}', 5))["id"] == 2
    assert node.connections == 2
    http.close()


async def test_overloaded_node_and_refused_connection(nodes):
    _, url = await nodes(lambda request: _sized(b"slow down", "429 Too Many Requests"))
    with pytest.raises(BadStatus):
        await HttpNode(url).post(b"{}", 5)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    with pytest.raises(ConnectFailed):
        await HttpNode(closed).post(b"{}", 5)
    # Neither URL answered: the request may have reached the first (it answered 429), so it may
    # have been delivered; a refused connection alone never delivers anything.
    with pytest.raises(NodeUnavailable) as both:
        await FailoverHttp([url, closed]).post_json({"id": 1})
    assert both.value.maybe_delivered
    with pytest.raises(NodeUnavailable) as refused:
        await FailoverHttp([closed]).post_json({"id": 1})
    assert not refused.value.maybe_delivered
    assert "connection refused" in str(refused.value)


async def test_a_silent_node_times_out_and_its_connection_is_dropped(nodes):
    node, url = await nodes(lambda request: b"")  # reads the request, never answers
    http = HttpNode(url)
    with pytest.raises(TimeoutError):
        await http.post(b'{"id": 1}', 0.2)
    assert not http._idle  # a connection with an answer outstanding never serves another request
    assert node.connections == 1


async def test_a_malformed_answer_is_a_transport_failure(nodes):
    _, url = await nodes(lambda request: b"NOT HTTP AT ALL\r\n\r\n")
    with pytest.raises(NodeUnavailable) as failed:
        await FailoverHttp([url]).post_json({"id": 1})
    assert failed.value.maybe_delivered


async def test_each_call_is_measured_under_the_node_host_alone(nodes):
    _, url = await nodes(lambda request: _sized(_echo_id(request)))
    host = url.split("/")[2]
    secret_url = url.replace("127.0.0.1", "key:secret@127.0.0.1")

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"host": host}) or 0.0

    calls, errors = sample("x402fac_rpc_request_seconds_count"), sample("x402fac_rpc_errors_total")
    http = FailoverHttp([secret_url])
    await http.post_json({"jsonrpc": "2.0", "id": 1, "method": "m", "params": []})
    await http.post_json({"jsonrpc": "2.0", "id": 2, "method": "m", "params": []})
    assert sample("x402fac_rpc_request_seconds_count") == calls + 2
    assert sample("x402fac_rpc_errors_total") == errors
    await http.close()
    _, busy_url = await nodes(lambda request: _sized(b"slow down", "429 Too Many Requests"))
    busy_host = busy_url.split("/")[2]
    before = REGISTRY.get_sample_value("x402fac_rpc_errors_total", {"host": busy_host}) or 0.0
    with pytest.raises(NodeUnavailable):
        await FailoverHttp([busy_url]).post_json({"id": 1})
    assert REGISTRY.get_sample_value("x402fac_rpc_errors_total", {"host": busy_host}) == before + 1
    assert "secret" not in metrics_text()[0].decode()
