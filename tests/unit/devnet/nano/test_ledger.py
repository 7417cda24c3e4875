"""The devnet ledger: the node's checks, in the node's order, with the node's messages."""

import os
from dataclasses import replace

import pytest

from x402fac.devnet.nano import ledger as messages
from x402fac.devnet.nano.ledger import Ledger, ProcessError
from x402fac.nano import StateBlock, generate_work, public_key
from x402fac.nano.blocks import ZERO_HASH

SEND = 0xFF00000000000000
RECEIVE = 0xF000000000000000
SUPPLY = 2**128 - 1


class Key:
    def __init__(self) -> None:
        self.secret = os.urandom(32)
        self.public = public_key(self.secret)


def finish(block: StateBlock, key: Key, threshold: int) -> StateBlock:
    return block.signed(key.secret).with_work(generate_work(block.root, threshold))


def bad_work(block: StateBlock, threshold: int) -> StateBlock:
    work = 0
    while block.with_work(work).work_valid(threshold):
        work += 1
    return block.with_work(work)


@pytest.fixture
def chain():
    ledger = Ledger(SEND, RECEIVE)
    genesis = Key()
    ledger.insert_genesis(
        finish(
            StateBlock(genesis.public, ZERO_HASH, genesis.public, SUPPLY, genesis.public), genesis, RECEIVE
        )
    )
    return ledger, genesis


def send(ledger, sender: Key, destination: bytes, amount: int) -> StateBlock:
    account = ledger.accounts[sender.public]
    block = StateBlock(
        sender.public, account.head, account.representative, account.balance - amount, destination
    )
    return finish(block, sender, SEND)


def receive(ledger, key: Key, send_hash: bytes, amount: int) -> StateBlock:
    account = ledger.accounts.get(key.public)
    previous = account.head if account else ZERO_HASH
    balance = account.balance if account else 0
    return finish(StateBlock(key.public, previous, key.public, balance + amount, send_hash), key, RECEIVE)


def test_send_open_receive_change(chain):
    ledger, genesis = chain
    alice = Key()
    first = ledger.process(send(ledger, genesis, alice.public, 100))
    assert first.subtype == "send" and first.amount == 100
    assert ledger.receivable[alice.public][first.hash].amount == 100
    opened = ledger.process(receive(ledger, alice, first.hash, 100))
    assert opened.subtype == "open" and opened.height == 1
    assert alice.public not in ledger.receivable
    assert ledger.received_by[first.hash] == opened.hash
    second = ledger.process(send(ledger, genesis, alice.public, 50))
    received = ledger.process(receive(ledger, alice, second.hash, 50))
    assert received.subtype == "receive" and received.height == 2
    assert ledger.accounts[alice.public].balance == 150
    assert ledger.blocks[opened.hash].successor == received.hash
    account = ledger.accounts[alice.public]
    change = finish(StateBlock(alice.public, account.head, genesis.public, 150, ZERO_HASH), alice, RECEIVE)
    assert ledger.process(change).subtype == "change"
    assert ledger.accounts[alice.public].representative == genesis.public


def test_old_block_and_fork(chain):
    ledger, genesis = chain
    alice, bob = Key(), Key()
    first = send(ledger, genesis, alice.public, 1)
    rival = send(ledger, genesis, bob.public, 1)  # same previous
    ledger.process(first)
    with pytest.raises(ProcessError, match=messages.OLD_BLOCK):
        ledger.process(first)
    with pytest.raises(ProcessError, match=f"^{messages.FORK}$"):
        ledger.process(rival)


def test_bad_signature_before_anything_else(chain):
    ledger, genesis = chain
    block = send(ledger, genesis, Key().public, 1)
    forged = replace(block, balance=block.balance - 1)  # signed for another balance
    with pytest.raises(ProcessError, match=messages.BAD_SIGNATURE):
        ledger.process(forged)


def test_gap_previous_and_gap_source(chain):
    ledger, genesis = chain
    stranger = Key()
    block = finish(
        StateBlock(stranger.public, os.urandom(32), stranger.public, 1, os.urandom(32)), stranger, RECEIVE
    )
    with pytest.raises(ProcessError, match=messages.GAP_PREVIOUS):
        ledger.process(block)
    account = ledger.accounts[genesis.public]
    unknown_previous = finish(
        StateBlock(genesis.public, os.urandom(32), genesis.public, account.balance - 1, stranger.public),
        genesis,
        SEND,
    )
    with pytest.raises(ProcessError, match=messages.GAP_PREVIOUS):
        ledger.process(unknown_previous)
    open_unknown_source = finish(
        StateBlock(stranger.public, ZERO_HASH, stranger.public, 1, os.urandom(32)), stranger, RECEIVE
    )
    with pytest.raises(ProcessError, match=messages.GAP_SOURCE):
        ledger.process(open_unknown_source)
    open_no_link = finish(
        StateBlock(stranger.public, ZERO_HASH, stranger.public, 1, ZERO_HASH), stranger, RECEIVE
    )
    with pytest.raises(ProcessError, match=messages.GAP_SOURCE):
        ledger.process(open_no_link)


def test_receive_must_take_exactly_the_receivable_once(chain):
    ledger, genesis = chain
    alice, bob = Key(), Key()
    sent = ledger.process(send(ledger, genesis, alice.public, 100))
    with pytest.raises(ProcessError, match=messages.BALANCE_MISMATCH):
        ledger.process(receive(ledger, alice, sent.hash, 101))
    with pytest.raises(ProcessError, match=messages.BALANCE_MISMATCH):
        ledger.process(receive(ledger, alice, sent.hash, 99))
    with pytest.raises(ProcessError, match=messages.UNRECEIVABLE):
        ledger.process(receive(ledger, bob, sent.hash, 100))  # not bob's
    ledger.process(receive(ledger, alice, sent.hash, 100))
    again = receive(ledger, alice, sent.hash, 100)
    with pytest.raises(ProcessError, match=messages.UNRECEIVABLE):
        ledger.process(again)


def test_change_must_keep_balance(chain):
    ledger, genesis = chain
    alice = Key()
    sent = ledger.process(send(ledger, genesis, alice.public, 10))
    ledger.process(receive(ledger, alice, sent.hash, 10))
    account = ledger.accounts[alice.public]
    block = finish(StateBlock(alice.public, account.head, genesis.public, 11, ZERO_HASH), alice, RECEIVE)
    with pytest.raises(ProcessError, match=messages.BALANCE_MISMATCH):
        ledger.process(block)


def test_work_threshold_depends_on_kind(chain):
    ledger, genesis = chain
    alice = Key()
    block = send(ledger, genesis, alice.public, 5)
    # Work good enough for a receive is not enough for a send.
    weak = block.with_work(0)
    while not (weak.work_valid(RECEIVE) and not weak.work_valid(SEND)):
        weak = weak.with_work(weak.work + 1)
    with pytest.raises(ProcessError, match=messages.INSUFFICIENT_WORK):
        ledger.process(weak)
    with pytest.raises(ProcessError, match=messages.INSUFFICIENT_WORK):
        ledger.process(bad_work(block, RECEIVE))
    ledger.process(block)


def test_subtype_precheck(chain):
    ledger, genesis = chain
    block = send(ledger, genesis, Key().public, 5)
    ledger.check_subtype(block, "send")
    for subtype, message in (
        ("receive", messages.INVALID_SUBTYPE_BALANCE),
        ("open", messages.INVALID_SUBTYPE_PREVIOUS),
        ("change", messages.INVALID_SUBTYPE_BALANCE),
        ("bogus", messages.INVALID_SUBTYPE),
    ):
        with pytest.raises(ProcessError, match=message):
            ledger.check_subtype(block, subtype)


def test_confirmation_cements_chain_and_sources(chain):
    ledger, genesis = chain
    alice = Key()
    sent = ledger.process(send(ledger, genesis, alice.public, 10))
    opened = ledger.process(receive(ledger, alice, sent.hash, 10))
    spent = ledger.process(send(ledger, alice, genesis.public, 3))
    assert ledger.balance(alice.public, confirmed_only=True) == 0
    assert ledger.receivable_of(alice.public, confirmed_only=True) == []
    confirmed = ledger.confirm(spent.hash)
    # The receive's source send is cemented before the receive.
    assert confirmed == [sent.hash, opened.hash, spent.hash]
    account = ledger.accounts[alice.public]
    assert account.confirmed_height == 2 and account.confirmed_frontier == spent.hash
    assert ledger.balance(alice.public, confirmed_only=True) == 7
    assert ledger.accounts[genesis.public].confirmed_frontier == sent.hash
    assert ledger.confirm(spent.hash) == []
    assert ledger.cemented == 4
