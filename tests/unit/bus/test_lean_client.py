"""The lean client's publish writes the very commands nats-py's writes, refuses what nats-py refuses
(a subject, reply or header name that could inject a protocol command), and parses headers the same."""

import asyncio

import pytest
from nats.aio.client import Client
from nats.errors import BadHeaderError, BadSubjectError

from x402fac.bus.lean import LeanClient, parse_header_lines


def connected(client: Client) -> Client:
    """A client as `connect` leaves it, minus the socket: commands stay in its pending buffer."""
    client._status = Client.CONNECTED
    client._flush_queue = asyncio.Queue()
    client._flusher_task = asyncio.get_running_loop().create_future()  # running (not done)
    client._max_payload = 1 << 20
    return client


PUBLISHES = [
    ("x402.ledger.claim", b"{}", "", None),
    ("x402.ledger.claim", b"", "_INBOX.abc.7", None),
    ("x402work.settle.evm", b"payload", "", {"Nats-Msg-Id": "abc", "X402fac-Deadline": "17.5"}),
    ("_X402R.evm.inbox.tok", b"answer", "_INBOX.r.1", {"X402fac-Success": "1"}),
    ("a.b", b"x", "", {"  Padded  ": "  value\r\nwith\nbreaks ", "": "skipped", "Empty": ""}),
    ("a.b", b"x", "", {}),
]


@pytest.mark.parametrize(("subject", "payload", "reply", "headers"), PUBLISHES)
async def test_the_same_command_as_nats_py(subject, payload, reply, headers):
    lean, plain = connected(LeanClient()), connected(Client())
    await lean.publish(subject, payload, reply=reply, headers=headers)
    await plain.publish(subject, payload, reply=reply, headers=headers)
    assert lean._pending == plain._pending
    assert lean._pending_data_size == plain._pending_data_size
    assert lean.stats["out_msgs"] == plain.stats["out_msgs"] == 1
    assert lean._flush_queue.qsize() == plain._flush_queue.qsize() == 1  # the flusher is woken once


async def test_the_flusher_is_woken_once_for_commands_written_together():
    lean = connected(LeanClient())
    for _ in range(5):
        await lean.publish("a.b", b"x")
    assert len(lean._pending) == 5
    assert lean._flush_queue.qsize() == 1


@pytest.mark.parametrize(
    ("subject", "reply"),
    [("", ""), ("a.b\r\nPUB evil 1", ""), ("a b", ""), ("a.b", "_INBOX.x\r\nUNSUB 1"), ("a\tb", "")],
)
async def test_a_subject_or_reply_that_could_inject_a_command_is_refused(subject, reply):
    lean = connected(LeanClient())
    with pytest.raises(BadSubjectError):
        await lean.publish(subject, b"x", reply=reply)
    assert lean._pending == []


@pytest.mark.parametrize("name", ["Bad Name", "Bad:Name", "Bad\r\nPUB x 1"])
async def test_a_header_name_outside_the_token_set_is_refused(name):
    lean = connected(LeanClient())
    with pytest.raises(BadHeaderError):
        await lean.publish("a.b", b"x", headers={name: "v"})
    assert lean._pending == []


async def test_not_connected_takes_nats_pys_path():
    lean = connected(LeanClient())
    lean._status = Client.DRAINING_PUBS
    with pytest.raises(Exception, match="draining"):
        await lean.publish("a.b", b"x")


RAW_HEADERS = [
    b"X402fac-Request-Id: abc\r\nNats-Msg-Id: 7\r\n\r\n",
    b"Name:Value\r\nTabbed:\tv\r\n\r\n",
    b"Bad Name: dropped\r\nOk: kept\r\n",
    b"Sep\x1cName: dropped (str.isspace)\r\nOk: 1\r\n",
    b"no colon here\r\n: empty name\r\nUtf8: caf\xc3\xa9 \xff\r\n",
    b"\xff\xfe: bad name bytes\r\nA: b\r\n",
    b"",
]


@pytest.mark.parametrize("raw", RAW_HEADERS)
def test_headers_parse_as_nats_py_parses_them(raw):
    assert parse_header_lines(raw) == Client._parse_header_lines(raw)


async def test_publish_now_writes_what_publish_writes_and_declines_when_it_cannot():
    lean, plain = connected(LeanClient()), connected(Client())
    assert lean.publish_now("_INBOX.w.1", b"taken")
    await plain.publish("_INBOX.w.1", b"taken")
    assert lean._pending == plain._pending
    assert lean._flush_queue.qsize() == 1
    with pytest.raises(BadSubjectError):
        lean.publish_now("_INBOX.w.1\r\nPUB evil 1", b"x")
    lean._status = Client.RECONNECTING
    assert not lean.publish_now("_INBOX.w.2", b"taken")  # the caller awaits publish instead
    assert len(lean._pending) == 1
