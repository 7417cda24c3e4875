"""The HTTP edge against strangers: oversized bodies, slow and idle connections, a flood of
connections, forged X-Forwarded-For, invalid keys on every route, cross-site key creation, and the
dashboard's security headers. Counts are modest (loopback, a shared machine); every wait is bounded."""

import asyncio
import contextlib
import uuid

import httpx
import pytest

from tests.fixtures.product import start_configured_gateway
from tests.integration.foundation.conftest import payment

KEYED_ROUTES = [
    "/",
    "/supported",
    "/health",
    "/facilitator/supported",
    "/discovery/resources",
    "/facilitator/discovery/search?query=x",
    "/list",
    "/whitelist/0xabc",
    "/dashboard/api/status",
]


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def _closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server closes the connection (EOF or reset) within `within` seconds."""
    try:
        while await asyncio.wait_for(reader.read(4096), within):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


@pytest.mark.parametrize("size", [2_000_000, 5_000_000, 20_000_000])
async def test_every_oversized_body_gets_413_in_the_error_shape(product_stack, size):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        answer = await http.post("/settle", content=b"x" * size, headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()["error"], answer.json()["status"]) == (
        413,
        "body_too_large",
        413,
    )
    for connection in ("keep-alive", "close"):  # `close`: as urllib sends; the answer must not be a reset
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(stack.gateway_url))
        head = (
            f"POST /verify HTTP/1.1\r\nHost: g\r\nConnection: {connection}\r\nContent-Length: {size}\r\n\r\n"
        )
        writer.write(head.encode())
        writer.write(b"x" * size)  # a client that sends it all before reading
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"}"), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 413 ") and b'"error":"body_too_large"' in answer, connection


async def test_an_invalid_key_is_401_on_every_route_that_reads_keys(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        for path in KEYED_ROUTES:
            invalid = await http.get(path, headers={"x-api-key": "x402n_" + "B" * 43})
            bearer = await http.get(path, headers={"Authorization": "Bearer not-a-key"})
            anonymous = await http.get(path)
            assert (invalid.status_code, invalid.json()["error"]) == (401, "unauthorized"), path
            assert bearer.status_code == 401, path
            assert anonymous.status_code == 200, path


async def test_slow_and_silent_connections_are_closed_and_the_gateway_keeps_answering(product_stack):
    stack, _ = product_stack
    gateway = await start_configured_gateway(stack.nats, request_read_timeout=1.0)
    port = _port(gateway.url)
    trickling = asyncio.Event()
    connections, tricklers = [], []

    async def trickle(writer: asyncio.StreamWriter) -> None:
        """Slowloris: a header line that never ends, a byte every 0.2 s."""
        writer.write(b"GET /health HTTP/1.1\r\nHost: g\r\nX-Slow: ")
        with contextlib.suppress(ConnectionError):
            while trickling.is_set():
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(0.2)

    try:
        for index in range(150):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            connections.append((reader, writer))
            if index % 3 == 0:  # a third send nothing at all
                continue
            if index % 3 == 1:  # a third a complete header block for a body that never comes
                writer.write(b"POST /verify HTTP/1.1\r\nHost: g\r\nContent-Length: 100\r\n\r\n{")
        trickling.set()
        tricklers = [asyncio.create_task(trickle(w)) for i, (_, w) in enumerate(connections) if i % 3 == 2]
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            assert (await http.get("/health")).status_code == 200  # served among them
        closed = await asyncio.gather(*(_closed_by_server(r, 10) for r, _ in connections))
        assert all(closed), f"{closed.count(False)} of {len(closed)} still open"
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            metrics = (await http.get("/metrics")).text
        assert 'x402fac_gateway_connections_closed_total{reason="read_timeout"}' in metrics
    finally:
        trickling.clear()
        for _, writer in connections:
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tricklers)
        await gateway.stop()


async def test_open_connections_are_capped_idle_ones_make_room_and_the_rest_get_503(product_stack):
    stack, _ = product_stack
    gateway = await start_configured_gateway(stack.nats, max_connections=40, request_read_timeout=30.0)
    port = _port(gateway.url)
    idle, busy = [], []
    try:
        for _ in range(40):  # each answered once, then idle on keep-alive
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: g\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            idle.append((reader, writer))
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            assert (await http.get("/health")).status_code == 200  # an idle one made room
        for _ in range(60):  # requests whose headers are still coming: none of them is idle
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: g\r\n")
            busy.append((reader, writer))
        answers = await asyncio.gather(
            *(asyncio.wait_for(r.read(), 10) for r, _ in busy[-10:]), return_exceptions=True
        )
        refused = [a for a in answers if isinstance(a, bytes) and a.startswith(b"HTTP/1.1 503")]
        assert len(refused) == 10 and all(b'"error":"overloaded"' in a for a in refused)
        assert all([await _closed_by_server(r, 5) for r, _ in idle])  # evicted for the busy ones
    finally:
        for _, writer in idle + busy:
            writer.close()
        await gateway.stop()


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(product_stack):
    """Rotating X-Forwarded-For from loopback does not escape the bad-key limit: the header is not
    read when `trustProxy` is off."""
    stack, _ = product_stack
    gateway = await start_configured_gateway(stack.nats, bad_key_limit_per_minute=5)
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            codes = []
            for index in range(8):
                headers = {"x-api-key": "x402n_" + uuid.uuid4().hex, "X-Forwarded-For": f"192.0.2.{index}"}
                codes.append((await http.post("/verify", json=payment("f"), headers=headers)).status_code)
    finally:
        await gateway.stop()
    assert set(codes[5:]) == {429}


async def test_a_trusted_proxy_gives_the_hop_it_appended_not_what_the_client_wrote(product_stack):
    stack, _ = product_stack
    gateway = await start_configured_gateway(stack.nats, trust_proxy=True)
    appended = f"203.0.113.{uuid.uuid4().int % 200 + 20}"  # what the proxy saw
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            codes = []
            for index in range(7):
                forged = f"198.18.{index}.{uuid.uuid4().int % 250}"  # chosen by the client
                answer = await http.post(
                    "/dashboard/api/keys",
                    json={"name": f"k{index}"},
                    headers={"X-Forwarded-For": f"{forged}, {appended}"},
                )
                codes.append(answer.status_code)
    finally:
        await gateway.stop()
    assert codes[:5] == [201] * 5 and codes[5:] == [429, 429]  # 5 keys per address and hour


async def test_keys_cannot_be_created_cross_site(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        before = (
            await http.get("/admin/keys", headers={"x-admin-token": "admin-token-for-tests-only"})
        ).json()
        form = await http.post(
            "/dashboard/api/keys", content=b'{"name": "csrf"}', headers={"content-type": "text/plain"}
        )
        other_site = await http.post(
            "/dashboard/api/keys", json={"name": "csrf"}, headers={"Origin": "https://evil.example"}
        )
        fetch_metadata = await http.post(
            "/dashboard/api/keys", json={"name": "csrf"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        after = (
            await http.get("/admin/keys", headers={"x-admin-token": "admin-token-for-tests-only"})
        ).json()
        own = await http.post(
            "/dashboard/api/keys",
            json={"name": "mine"},
            headers={"Origin": stack.gateway_url, "Sec-Fetch-Site": "same-origin", "X-Forwarded-For": "x"},
        )
    assert (form.status_code, form.json()["error"]) == (415, "unsupported_media_type")
    assert (other_site.status_code, other_site.json()["error"]) == (403, "forbidden")
    assert fetch_metadata.status_code == 403
    assert len(after["keys"]) == len(before["keys"])  # nothing created
    assert own.status_code in (201, 429)  # 429: this address made its 5 keys in another test


async def test_the_dashboard_is_served_with_security_headers_and_no_third_party_script(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        page = await http.get("/dashboard")
        swagger = await http.get("/schema/swagger")
        document = await http.get("/schema")
        api = await http.get("/supported")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert b"<script>" not in page.content  # the policy allows no inline script: the page has none
    assert swagger.status_code == 404  # the CDN-loading page is off unless the operator turns it on
    assert document.status_code == 200 and document.json()["openapi"]
    assert api.headers["x-content-type-options"] == "nosniff"
