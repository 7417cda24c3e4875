"""Proof of work: value, validation against thresholds, generation."""

import os

import pytest

from x402fac.nano import (
    MAINNET_SEND_THRESHOLD,
    WorkError,
    format_work,
    generate_work,
    parse_block,
    parse_threshold,
    parse_work,
    work_valid,
    work_value,
)
from x402fac.nano.work import expected_attempts


def test_genvec_mainnet_send_work(nano_vectors):
    genvec = nano_vectors["genvec"]
    block = parse_block(genvec["block"])
    assert block.root == bytes.fromhex(genvec["block"]["previous"])
    assert format_work(work_value(block.work, block.root)) == genvec["work_value"]
    assert work_valid(block.work, block.root, MAINNET_SEND_THRESHOLD)
    assert block.work_valid(MAINNET_SEND_THRESHOLD)
    # The same work for another root is (overwhelmingly) worthless.
    assert not work_valid(block.work, bytes(32), MAINNET_SEND_THRESHOLD)
    # Above its own value it fails.
    assert not work_valid(block.work, block.root, work_value(block.work, block.root) + 1)


def test_generated_work_meets_threshold():
    root = os.urandom(32)
    threshold = 0xFF00000000000000
    work = generate_work(root, threshold)
    assert work_value(work, root) >= threshold


def test_generation_gives_up_after_max_attempts():
    with pytest.raises(WorkError):
        generate_work(os.urandom(32), 2**64 - 1, max_attempts=10)


def test_generation_checks_inputs():
    with pytest.raises(WorkError):
        generate_work(bytes(31), 0)
    with pytest.raises(WorkError):
        generate_work(bytes(32), 2**64)


def test_parse_and_format():
    assert parse_work("f9d56d74750eb440") == 0xF9D56D74750EB440
    assert parse_work("F9D56D74750EB440") == 0xF9D56D74750EB440
    assert parse_work("1") == 1
    assert parse_threshold("fffffff800000000") == MAINNET_SEND_THRESHOLD
    assert format_work(1) == "0000000000000001"
    for bad in ("", "0" * 17, "xyz", None):
        with pytest.raises(WorkError):
            parse_work(bad)
    with pytest.raises(WorkError):
        format_work(2**64)


def test_expected_attempts():
    assert expected_attempts(MAINNET_SEND_THRESHOLD) == 2**29
    assert expected_attempts(0xFFF0000000000000) == 4096
