"""Serving the gateway with uvicorn (uvloop + httptools)."""

import asyncio

import uvicorn

from .app import create_app
from .config import GatewayConfig

KEEP_ALIVE_SECONDS = 75


async def serve(
    config: GatewayConfig, nats_url: str | None = None, stop: asyncio.Event | None = None
) -> None:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, nats_url=nats_url),
            host=config.host,
            port=config.port,
            http="httptools",
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=15,
            # Longer than the idle timeout of load balancers (60 s) and client pools: the client side
            # closes an idle connection first, so no request is sent down one the server just closed.
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )
    server.install_signal_handlers = lambda: None  # the CLI owns signals
    task = asyncio.create_task(server.serve())
    if stop is not None:
        await stop.wait()
        server.should_exit = True
    await task
