"""The gateway's server loop: no tick at idle (the Date header is made when a response needs it, in
each new second), and a stop heard while it sleeps."""

import asyncio
from email.utils import formatdate

import uvicorn

from x402fac.gateway import server as server_module
from x402fac.gateway.server import LazyDateState, Server


async def app(scope, receive, send) -> None:  # never called: only the loop runs
    raise AssertionError


def loaded(**options) -> Server:
    config = uvicorn.Config(app, log_level="warning", **options)
    config.load()
    return Server(config)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def date_of(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    return next((value for name, value in headers if name == b"date"), None)


async def test_the_loop_ticks_once_then_sleeps_until_a_stop(monkeypatch):
    server = loaded()
    ticks: list[int] = []
    original = server.on_tick

    async def on_tick(counter: int) -> bool:  # this server's only (other servers may run in the loop)
        ticks.append(counter)
        return await original(counter)

    server.on_tick = on_tick  # type: ignore[method-assign]
    loop = asyncio.create_task(server.main_loop())
    for _ in range(20):  # turns of the event loop: a ticking loop would tick again in them
        await asyncio.sleep(0)
    assert ticks == [0] and not loop.done()
    server.should_exit = True
    await asyncio.wait_for(loop, 10)  # a guard against a hang, not a timing check
    assert ticks == [0, 0]


async def test_the_date_header_follows_the_clock_without_a_tick(monkeypatch):
    server = loaded(headers=[("x-served-by", "gateway")])
    clock = Clock(1_700_000_000.2)
    monkeypatch.setattr(server_module.time, "time", clock.time)
    assert isinstance(server.server_state, LazyDateState)
    await server.on_tick(0)  # what the loop does once at start
    first = server.server_state.default_headers
    assert date_of(first) == formatdate(1_700_000_000, usegmt=True).encode()
    assert (b"x-served-by", b"gateway") in first
    clock.now += 0.5  # the same second: the same headers
    assert server.server_state.default_headers is first
    clock.now += 2.0
    later = server.server_state.default_headers
    assert date_of(later) == formatdate(1_700_000_002, usegmt=True).encode()
    assert (b"x-served-by", b"gateway") in later


async def test_no_date_header_when_uvicorn_is_told_not_to_send_one():
    server = loaded(date_header=False)
    await server.on_tick(0)
    assert date_of(server.server_state.default_headers) is None


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
