"""A JSON-RPC pass-through in the bench process (EVM/Solana `method`, Nano `action`): pointed at it, a
worker's every chain call is seen, with its methods and when it started and ended on this clock."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from bench.targets import free_port


@dataclass
class RpcCall:
    methods: tuple[str, ...]  # one POST: a batch holds several
    start: float
    end: float


@dataclass
class RpcRecorder:
    upstream: str
    calls: list[RpcCall] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    def methods(self) -> Counter:
        """Calls by method, over every POST so far."""
        return Counter(method for call in self.calls for method in call.methods)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=16 << 20)
        app.router.add_post("/", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        started = time.perf_counter()
        assert self._session is not None
        async with self._session.post(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        ) as up:
            answer = await up.read()
        ended = time.perf_counter()
        parsed = json.loads(body)
        calls = parsed if isinstance(parsed, list) else [parsed]
        methods = tuple(call.get("method") or call.get("action") or "?" for call in calls)
        self.calls.append(RpcCall(methods, started, ended))
        return web.Response(body=answer, content_type="application/json")

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
        if self._session:
            await self._session.close()
