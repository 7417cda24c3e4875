"""A seller for the demo and the end-to-end tests: one paid route behind the official x402 SDK, with
our gateway as facilitator. The SDK is in the workspace's dev dependency group, so it is imported
lazily.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import uvicorn

from x402fac.bus import free_port

if TYPE_CHECKING:
    from fastapi import FastAPI
    from x402 import SchemeNetworkServer

SETTLE_TIMEOUT = 60.0


async def wait_until_supported(
    gateway_url: str, network: str, attempts: int = 100, scheme: str | None = None
) -> None:
    """Poll the gateway's /supported until some kind names `network` (and `scheme`, when given): its
    worker has announced itself."""
    async with aiohttp.ClientSession() as http:
        for _ in range(attempts):
            async with http.get(f"{gateway_url}/supported") as response:
                kinds = (await response.json())["kinds"]
            if any(kind["network"] == network and scheme in (None, kind["scheme"]) for kind in kinds):
                return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the gateway at {gateway_url} does not list {scheme or 'any scheme'} on {network}")


@dataclass(eq=False)
class PaidResource:
    """A seller: one paid route behind the official x402 SDK, with our gateway as facilitator.

    A FastAPI app with the SDK's PaymentMiddlewareASGI and an x402ResourceServer that registers the
    family's SDK server scheme, on a free loopback port. It runs on its own thread and loop: the SDK's
    resource server makes blocking calls (it fetches /supported synchronously), which must not stall
    the loop the caller (or a test's gateway) runs on. `async with PaidResource(...) as resource:`
    waits until the gateway lists the network, then serves.
    """

    gateway_url: str
    network: str
    scheme: SchemeNetworkServer
    path: str
    accepts: dict[str, Any]
    description: str
    content: dict[str, Any]
    extensions: dict[str, Any] | None = None  # declared in the 402 answer (e.g. gas sponsoring)
    charge: str | None = None  # `upto`: what the route settles once served (the SDK's settlement override)
    port: int = field(default_factory=free_port, init=False)
    server: uvicorn.Server | None = field(default=None, init=False)
    thread: threading.Thread | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def build_app(self) -> FastAPI:
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse
        from x402 import x402ResourceServer
        from x402.http import FacilitatorConfig, HTTPFacilitatorClient
        from x402.http.middleware.fastapi import PaymentMiddlewareASGI, set_settlement_overrides

        server = x402ResourceServer(
            HTTPFacilitatorClient(FacilitatorConfig(url=self.gateway_url, timeout=SETTLE_TIMEOUT))
        )
        server.register(self.network, self.scheme)
        route: dict[str, Any] = {"accepts": self.accepts, "description": self.description}
        if self.extensions:
            route["extensions"] = self.extensions
        routes = {f"GET {self.path}": route}
        app = FastAPI()
        app.add_middleware(PaymentMiddlewareASGI, routes=routes, server=server)

        @app.get(self.path)
        async def paid_content() -> Any:
            response = JSONResponse(self.content)
            if self.charge is not None:
                set_settlement_overrides(response, {"amount": self.charge})
            return response

        return app

    def start(self) -> None:
        config = uvicorn.Config(self.build_app(), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, name=f"paid-resource {self.network}", daemon=True
        )
        self.thread.start()

    async def wait_started(self) -> None:
        for _ in range(200):
            if self.server is not None and self.server.started:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("resource server did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)

    async def __aenter__(self) -> PaidResource:
        # The SDK's resource server reads /supported when its middleware starts, and ends the process
        # when the scheme is not listed: the worker must be.
        await wait_until_supported(self.gateway_url, self.network, scheme=self.accepts.get("scheme"))
        self.start()
        await self.wait_started()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)
