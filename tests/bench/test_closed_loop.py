"""A closed-loop workload with a minimum number of requests runs past its duration until it sent them
(within its bounds), the same way for every target."""

import asyncio

from bench import loadgen


class Answering:
    """A client whose every request is answered ok at the next turn of the loop."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, url: str, body: bytes, settle: bool) -> tuple[str, str]:
        self.sent += 1
        await asyncio.sleep(0)
        return "ok", ""


async def test_runs_past_its_duration_until_the_minimum_was_sent(monkeypatch):
    monkeypatch.setattr(loadgen, "MIN_REQUESTS_TIME_FACTOR", 1e12)  # the bound is not what stops it here
    client = Answering()
    run = await loadgen.closed_loop(client, "url", [b"{}"] * 50, 1, 1e-9, True, min_requests=7)
    assert client.sent == 7 and len(run.samples) == 7


async def test_without_a_minimum_it_stops_at_its_duration():
    client = Answering()
    run = await loadgen.closed_loop(client, "url", [b"{}"] * 50, 1, 0.0, True)
    assert client.sent == 0 and run.samples == []


async def test_the_minimum_is_bounded_by_the_payments_and_by_time(monkeypatch):
    monkeypatch.setattr(loadgen, "MIN_REQUESTS_TIME_FACTOR", 1e12)
    client = Answering()
    await loadgen.closed_loop(client, "url", [b"{}"] * 4, 2, 1e-9, True, min_requests=20)
    assert client.sent == 4  # every payment sent once, no more
    monkeypatch.setattr(loadgen, "MIN_REQUESTS_TIME_FACTOR", 0.0)
    client = Answering()
    await loadgen.closed_loop(client, "url", [b"{}"] * 50, 1, 0.0, True, min_requests=20)
    assert client.sent == 0  # past its longest time, nothing more is sent
