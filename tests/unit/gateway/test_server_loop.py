"""The gateway's server loop: a tick a second (each keeps the Date header current, as uvicorn's
every tenth tick does), and a stop heard while it sleeps."""

import asyncio

import uvicorn

from x402fac.gateway.server import TICKS_PER_SECOND, Server


async def app(scope, receive, send) -> None:  # never called: only the loop runs
    raise AssertionError


def loaded() -> Server:
    config = uvicorn.Config(app, log_level="warning")
    config.load()
    return Server(config)


async def test_every_tick_refreshes_the_date_header():
    server = loaded()
    ticks: list[int] = []
    original = server.on_tick

    async def on_tick(counter: int) -> bool:  # this server's only (other servers may run in the loop)
        ticks.append(counter)
        stop = await original(counter)
        if len(ticks) == 2:
            server.should_exit = True
        return stop

    server.on_tick = on_tick  # type: ignore[method-assign]
    await asyncio.wait_for(server.main_loop(), 10)  # a guard against a hang, not a timing check
    assert ticks == [0, TICKS_PER_SECOND, TICKS_PER_SECOND * 2]
    assert all(counter % 10 == 0 for counter in ticks)  # uvicorn refreshes the Date header on these
    assert b"date" in [name for name, _ in server.server_state.default_headers]


async def test_a_stop_set_while_it_sleeps_ends_the_loop():
    server = loaded()
    loop = asyncio.create_task(server.main_loop())
    await asyncio.sleep(0)
    assert not loop.done() and not server.should_exit
    server.should_exit = True
    await asyncio.wait_for(loop, 10)  # the loop ends; a guard against a hang, not a timing check
    assert server.should_exit
    server.should_exit = False
    assert not server.should_exit
