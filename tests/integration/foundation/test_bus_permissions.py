"""The bus trusts no one: every role's forbidden actions are refused by nats-server itself.

Each check connects with a role's real credentials (as `make run` and the chart give them) and tries
what an attacker holding them would: answer a verify or a settle, take work, rewrite a bucket, mint a
key. The server's refusal is observed directly (its "permissions violation" error on that connection),
and where a forged answer could reach a caller, that the caller never receives it.
"""

import asyncio
import uuid

import nats
import nats.errors
import pytest
from nats.aio.client import Client

from tests.fixtures.stack import Stack
from x402fac.bus import BusTimeout, Credentials, ReplyInbox, access, connect, request, subjects
from x402fac.protocol.ledger import KeyCreateReply, KeyCreateRequest

FORGED = b'{"isValid":true,"payer":"0xforged"}'


class Session:
    """A connection as one role that records every refusal the server sends it."""

    def __init__(self, nc: Client, violations: list[str]) -> None:
        self.nc = nc
        self.violations = violations

    async def refused(self, what: str) -> bool:
        """True once the server has refused something matching `what` on this connection."""
        for _ in range(100):
            await self.nc.flush(timeout=5)
            if any(what.lower() in violation.lower() for violation in self.violations):
                return True
            await asyncio.sleep(0.02)
        return False


async def connect_as(stack: Stack, role: str) -> Session:
    violations: list[str] = []

    async def on_error(exc: Exception) -> None:
        violations.append(str(exc))

    options = stack.nats.credentials(role).options()
    nc = await nats.connect(stack.nats_url, error_cb=on_error, allow_reconnect=False, **options)
    return Session(nc, violations)


ADMIN_TOKEN = "the-admin-token-of-this-test"


@pytest.fixture(scope="module")
async def bus():
    stack = await Stack.start(admin_token=ADMIN_TOKEN)
    sessions: list[Session] = []

    async def session(role: str) -> Session:
        sessions.append(await connect_as(stack, role))
        return sessions[-1]

    yield stack, session
    for opened in sessions:
        await opened.nc.close()
    await stack.close()


async def test_anonymous_and_wrong_password_clients_are_refused(bus):
    stack, _ = bus
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(stack.nats_url, allow_reconnect=False, max_reconnect_attempts=0)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            stack.nats_url,
            user=access.GATEWAY,
            password="guessed",
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )


async def test_a_service_given_a_wrong_password_stops_at_once(bus):
    """bus.connect() raises on a refused login instead of retrying it for ever."""
    stack, _ = bus
    with pytest.raises(PermissionError, match="X402FAC_NATS_PASSWORD"):
        await connect(stack.nats_url, credentials=Credentials(access.LEDGER, "not-its-password"))


@pytest.mark.parametrize("role", [access.GATEWAY, access.worker("nano"), access.ADMIN, access.LEDGER])
async def test_no_role_but_the_evm_worker_can_answer_an_evm_verify(bus, role):
    _stack, session = bus
    forger = await session(role)

    async def answer(msg) -> None:
        await msg.respond(FORGED)

    await forger.nc.subscribe(subjects.verify("evm"), cb=answer)
    assert await forger.refused(f'Subscription to "{subjects.verify("evm")}"')
    caller = await session(access.GATEWAY)
    with pytest.raises(nats.errors.NoRespondersError):  # the forger's subscription does not exist
        await caller.nc.request(subjects.verify("evm"), b"{}", timeout=5)


@pytest.mark.parametrize("role", [access.GATEWAY, access.worker("nano"), access.ADMIN, access.LEDGER])
async def test_no_role_but_the_evm_worker_can_answer_an_evm_settle(bus, role):
    """A settle answer goes to the gateway's reply address named in the work item; anyone else's
    publish there is refused and never reaches the waiting gateway."""
    _stack, session = bus
    gateway = await session(access.GATEWAY)
    inbox = ReplyInbox(gateway.nc)
    await inbox.start()
    received: list[bytes] = []

    async def keep(msg) -> None:
        received.append(msg.data)

    await gateway.nc.subscribe(f"{access.REPLY_PREFIX}.>", cb=keep)
    forger = await session(role)
    address = inbox.address(subjects.settle("evm"), uuid.uuid4().hex)
    await forger.nc.publish(address, b'{"success":true,"transaction":"0xforged"}')
    assert await forger.refused(f'Publish to "{address}"')
    worker = await session(access.worker("evm"))
    await worker.nc.publish(address, b"genuine")  # the family's own worker may answer there
    await worker.nc.flush()
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.02)
    assert received == [b"genuine"]
    await inbox.stop()


@pytest.mark.parametrize("role", [access.GATEWAY, access.worker("nano"), access.ADMIN])
async def test_no_role_but_the_evm_worker_can_take_evm_settle_work(bus, role):
    _stack, session = bus
    thief = await session(role)
    await thief.nc.subscribe(f"{subjects.WORK_PREFIX}.>")  # the stream's subjects, as a plain reader
    assert await thief.refused(f'Subscription to "{subjects.WORK_PREFIX}.>"')
    js = thief.nc.jetstream(timeout=1)
    with pytest.raises(nats.errors.TimeoutError):  # the consumer API is refused: nothing answers
        await js.subscribe(
            subjects.settle("evm"),
            queue=subjects.settle_group("evm"),
            durable=subjects.settle_group("evm"),
            stream=subjects.WORK_STREAM,
        )
    # (the server shortens a long subject in its message to "$js.api...._work.settle-evm")
    assert await thief.refused(f"_WORK.{subjects.settle_group('evm')}")
    with pytest.raises(nats.errors.TimeoutError):  # nor a consumer of its own on the stream
        await js.add_consumer(
            subjects.WORK_STREAM, durable_name="stolen", filter_subject=subjects.settle("evm")
        )
    assert await thief.refused(f"{subjects.WORK_STREAM}.stolen")


@pytest.mark.parametrize("role", [access.GATEWAY, access.worker("evm"), access.ADMIN])
async def test_no_role_but_the_ledger_can_write_a_bucket_or_manage_streams(bus, role):
    stack, session = bus
    intruder = await session(role)
    key = f"$KV.{subjects.SETTLEMENTS_BUCKET}.forged"
    await intruder.nc.publish(key, b'{"state":"settled"}')
    assert await intruder.refused(f'Publish to "{key}"')
    js = intruder.nc.jetstream(timeout=1)
    with pytest.raises(nats.errors.TimeoutError):
        await js.key_value(subjects.SETTLEMENTS_BUCKET)
    with pytest.raises(nats.errors.TimeoutError):
        await js.delete_stream(subjects.AUDIT_STREAM)
    assert await intruder.refused(f"$JS.API.STREAM.DELETE.{subjects.AUDIT_STREAM}")
    info = await stack.nc.jetstream().stream_info(subjects.AUDIT_STREAM)  # still there
    assert info.config.name == subjects.AUDIT_STREAM


@pytest.mark.parametrize(
    ("role", "subject"),
    [
        (access.GATEWAY, subjects.LEDGER_FINALIZE),  # a success recorded for nothing moved
        (access.GATEWAY, subjects.LEDGER_CLAIM),
        (access.ADMIN, subjects.LEDGER_FINALIZE),
        (access.worker("evm"), subjects.LEDGER_KEY_CREATE),  # a worker mints no key
        (access.worker("nano"), subjects.LEDGER_WHITELIST_ADD),
        (access.worker("solana"), "x402.ledger.discovery.add"),
        (access.worker("evm"), subjects.LEDGER_KEY_LIST),  # nor reads key hashes
    ],
)
async def test_each_role_calls_only_its_own_ledger_subjects(bus, role, subject):
    _stack, session = bus
    caller = await session(role)
    with pytest.raises(nats.errors.TimeoutError):  # the request never left: no answer comes
        await caller.nc.request(subject, b"{}", timeout=1)
    assert await caller.refused(f'Publish to "{subject}"')


async def test_a_worker_cannot_read_other_users_replies(bus):
    """Inboxes are per user: a worker cannot listen for the gateway's verify answers or pub-acks."""
    _stack, session = bus
    worker = await session(access.worker("nano"))
    await worker.nc.subscribe("_INBOX.>")
    assert await worker.refused('Subscription to "_INBOX.>"')
    await worker.nc.subscribe(f"{access.inbox_prefix(access.GATEWAY)}.>")
    assert await worker.refused(f'Subscription to "{access.inbox_prefix(access.GATEWAY)}.>"')


async def test_the_gateway_counts_limits_and_queues_work_only(bus):
    """The gateway increments a rate counter (a publish to its stream), and cannot reset one."""
    _stack, session = bus
    gateway = await session(access.GATEWAY)
    js = gateway.nc.jetstream(timeout=5)
    ack = await js.publish(subjects.rate("test", "k", 1), b"", headers={"Nats-Incr": "+1"})
    assert int(ack.val) == 1
    with pytest.raises(nats.errors.TimeoutError):  # but not reset one by purging its stream
        await js.purge_stream(subjects.RATE_STREAM)
    assert await gateway.refused(f"$JS.API.STREAM.PURGE.{subjects.RATE_STREAM}")


async def test_the_gateways_credentials_alone_mint_no_admin_key(bus):
    """The gateway reaches key.create (self-service keys, and the admin API it fronts), but the ledger
    mints an admin-origin key only for a request carrying the admin token, and an operator's key only
    on key.issue, which only the operator's bus user may call."""
    _, session = bus
    gateway = await session(access.GATEWAY)

    async def create(subject: str, **fields) -> KeyCreateReply:
        message = KeyCreateRequest(name="forged", rate_per_minute=0, **fields)
        return await request(gateway.nc, subject, message, KeyCreateReply, 5)

    for fields in ({"origin": "admin"}, {"origin": "admin", "admin_token": "guessed"}, {"origin": "cli"}):
        refused = await create(subjects.LEDGER_KEY_CREATE, **fields)
        assert (refused.ok, refused.error, refused.secret) == (False, "unauthorized", ""), fields
    with pytest.raises(BusTimeout):
        await create(subjects.LEDGER_KEY_ISSUE, origin="cli")
    assert await gateway.refused(f'Publish to "{subjects.LEDGER_KEY_ISSUE}"')

    admin_request = await create(subjects.LEDGER_KEY_CREATE, origin="admin", admin_token=ADMIN_TOKEN)
    assert admin_request.ok and admin_request.key.origin == "admin" and admin_request.key.rate_per_minute == 0
    operator = await session(access.ADMIN)
    issued = await request(
        operator.nc, subjects.LEDGER_KEY_ISSUE, KeyCreateRequest(name="ops", origin="cli"), KeyCreateReply, 5
    )
    assert issued.ok and issued.key.origin == "cli"
