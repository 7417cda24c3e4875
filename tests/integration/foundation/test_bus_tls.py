"""NATS over TLS (on in the chart, optional locally): every service connects through it with the CA it
is given, a paid settle goes through, and a client that does not speak TLS is turned away."""

import asyncio
import json
import ssl
import uuid

import httpx
import nats
import nats.errors
import pytest

from tests.fixtures.stack import Stack
from tests.fixtures.tls import make_tls
from x402fac.bus import access

from .conftest import LedgerBookScheme, payment


async def test_a_settle_goes_through_a_tls_only_bus(tmp_path):
    tls = make_tls(tmp_path)
    stack = await Stack.start(tls=tls)
    try:
        assert stack.nats_url.startswith("tls://")
        scheme = LedgerBookScheme()
        await stack.start_worker("evm", [scheme])
        body = payment(uuid.uuid4().hex)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            for _ in range(100):  # until the gateway sees the evm worker live
                if (await http.get("/supported")).json()["kinds"]:
                    break
                await asyncio.sleep(0.1)
            assert (await http.post("/verify", json=body)).json()["isValid"] is True
            settled = (await http.post("/settle", json=body)).json()
        assert settled["success"] is True, settled
        assert stack.nc.connected_url.scheme == "tls"

        # The right password gets nowhere without the CA (the server's certificate is not trusted)...
        password = stack.nats.users.passwords[access.GATEWAY]
        with pytest.raises(ssl.SSLCertVerificationError):
            await nats.connect(
                stack.nats_url,
                user=access.GATEWAY,
                password=password,
                allow_reconnect=False,
                max_reconnect_attempts=0,
            )
        # ... nor in plain text: the server requires TLS before it reads a CONNECT.
        host, port = stack.nats_url.removeprefix("tls://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        info = json.loads((await reader.readline()).removeprefix(b"INFO "))
        assert info["tls_required"] is True
        connect = {"user": access.GATEWAY, "pass": password, "verbose": False, "pedantic": False}
        writer.write(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        await writer.drain()
        answer = await reader.read(4096)  # the server drops the connection (or says why)
        assert b"PONG" not in answer
        writer.close()
    finally:
        await stack.close()
