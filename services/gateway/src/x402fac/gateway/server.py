"""Serving the gateway with uvicorn (uvloop + httptools)."""

import asyncio

import uvicorn

from .app import create_app
from .config import GatewayConfig


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
        )
    )
    server.install_signal_handlers = lambda: None  # the CLI owns signals
    task = asyncio.create_task(server.serve())
    if stop is not None:
        await stop.wait()
        server.should_exit = True
    await task
