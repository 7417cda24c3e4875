"""The devnet's RPC over loopback HTTP: node response shapes and error strings, confirmation, faucet."""

import asyncio
import json
from dataclasses import replace

import pytest

from tests.fixtures.nano import XNO, NanoAccount
from x402fac.devnet.nano import faucet, fund_account, receive
from x402fac.nano import StateBlock, decode_address, generate_work, parse_hash, parse_threshold
from x402fac.nano.blocks import ZERO_HASH
from x402fac.nano.node import NodeError


def thresholds(info):
    return parse_threshold(info["workThresholds"]["send"]), parse_threshold(info["workThresholds"]["receive"])


async def send_block(
    rpc, info, account: NanoAccount, destination: bytes, amount: int, previous=None, balance=None
):
    """A signed send from `account`'s current frontier (or the given previous/balance), not yet published."""
    state = await rpc.call("account_info", account=account.address)
    previous = previous if previous is not None else parse_hash(state["frontier"])
    balance = balance if balance is not None else int(state["balance"])
    block = StateBlock(account.public_key, previous, account.public_key, balance - amount, destination)
    return block.signed(account.secret_key).with_work(generate_work(previous, thresholds(info)[0]))


def work_between(block: StateBlock, low: int, high: int) -> StateBlock:
    """The block with work valid for `low` but not for `high`."""
    candidate = block.with_work(0)
    while not (candidate.work_valid(low) and not candidate.work_valid(high)):
        candidate = candidate.with_work(candidate.work + 1)
    return candidate


async def test_version_and_block_count(nano_rpc, nano_devnet):
    version = await nano_rpc.call("version")
    assert version["rpc_version"] == "1"
    assert version["network_identifier"] == nano_devnet.info["genesisHash"]
    count = await nano_rpc.call("block_count")
    assert set(count) == {"count", "unchecked", "cemented"}
    assert all(isinstance(value, str) and value.isdigit() for value in count.values())


async def test_account_info_shapes(nano_rpc, nano_funded_account):
    account = await nano_funded_account(2 * XNO)
    plain = await nano_rpc.call("account_info", account=account.address)
    assert plain["balance"] == str(2 * XNO)
    assert plain["block_count"] == "1"
    assert plain["frontier"] == plain["open_block"] == plain["confirmation_height_frontier"]
    assert "confirmed_balance" not in plain and "representative" not in plain
    full = await nano_rpc.call(
        "account_info",
        account=account.address,
        include_confirmed="true",
        representative="true",
        receivable="true",
    )
    assert full["confirmed_balance"] == str(2 * XNO)
    assert full["confirmed_height"] == "1"
    assert full["confirmed_frontier"] == full["frontier"]
    assert full["representative"] == full["confirmed_representative"]
    assert full["receivable"] == full["pending"] == "0"
    assert "confirmation_height" not in full


async def test_account_errors(nano_rpc):
    with pytest.raises(NodeError, match=r": Account not found$"):
        await nano_rpc.call("account_info", account=NanoAccount.generate().address)
    with pytest.raises(NodeError, match=r": Bad account number$"):
        await nano_rpc.call("account_info", account="nano_1notanaddress")
    with pytest.raises(NodeError, match=r": Unknown command$"):
        await nano_rpc.call("account_infos")
    with pytest.raises(NodeError, match=r": Block not found$"):
        await nano_rpc.call("block_info", hash="AB" * 32)
    with pytest.raises(NodeError, match=r": Invalid block hash$"):
        await nano_rpc.call("block_info", hash="AB")


async def test_send_confirms_after_delay_and_is_receivable(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(5 * XNO)
    payee = NanoAccount.generate()
    block = await send_block(nano_rpc, nano_devnet.info, payer, payee.public_key, XNO)
    answer = await nano_rpc.call("process", json_block="true", subtype="send", block=block.to_json())
    assert answer == {"hash": block.hash.hex().upper()}
    await nano_rpc.wait_confirmed(answer["hash"])
    info = await nano_rpc.call("block_info", hash=answer["hash"], json_block="true")
    assert info["confirmed"] == "true"
    assert info["subtype"] == "send"
    assert info["amount"] == str(XNO)
    assert info["balance"] == str(4 * XNO)
    assert info["contents"] == block.to_json()
    assert info["successor"] == "0" * 64
    as_text = await nano_rpc.call("block_info", hash=answer["hash"])
    assert json.loads(as_text["contents"]) == block.to_json()
    assert (await nano_rpc.call("receivable", account=payee.address)) == {"blocks": [answer["hash"]]}
    with_amounts = await nano_rpc.call("receivable", account=payee.address, source="true")
    assert with_amounts["blocks"][answer["hash"]] == {"amount": str(XNO), "source": payer.address}
    legacy = await nano_rpc.call("pending", account=payee.address, threshold="1")
    assert legacy == {"deprecated": "1", "blocks": {answer["hash"]: str(XNO)}}
    balance = await nano_rpc.call("account_balance", account=payee.address)
    assert balance == {"balance": "0", "pending": str(XNO), "receivable": str(XNO)}
    # Open the payee with the receivable; blocks_info then reports who received it.
    opened = await receive(nano_rpc, nano_devnet.info, payee.secret_key, answer["hash"])
    blocks = await nano_rpc.call(
        "blocks_info", hashes=[answer["hash"], opened], receivable="true", receive_hash="true", source="true"
    )
    assert blocks["blocks"][answer["hash"]]["receivable"] == "0"
    assert blocks["blocks"][answer["hash"]]["receive_hash"] == opened
    assert blocks["blocks"][opened]["source_account"] == payer.address
    assert blocks["blocks"][opened]["subtype"] == "open"
    assert (await nano_rpc.call("receivable", account=payee.address, include_only_confirmed="false")) == {
        "blocks": ""
    }


async def test_blocks_info_not_found(nano_rpc):
    missing = "CD" * 32
    with pytest.raises(NodeError, match=r": Block not found$"):
        await nano_rpc.call("blocks_info", hashes=[missing])
    answer = await nano_rpc.call("blocks_info", hashes=[missing], include_not_found="true")
    assert answer == {"blocks": "", "blocks_not_found": [missing]}


async def test_process_refusals_use_node_messages(nano_rpc, nano_devnet, nano_funded_account):
    send_threshold, receive_threshold = thresholds(nano_devnet.info)
    payer = await nano_funded_account(5 * XNO)
    payee = NanoAccount.generate()
    block = await send_block(nano_rpc, nano_devnet.info, payer, payee.public_key, XNO)

    async def process(candidate, **options):
        return await nano_rpc.call("process", json_block="true", block=candidate.to_json(), **options)

    forged = replace(block, balance=block.balance - 1)  # signed for another balance
    with pytest.raises(NodeError, match=r": Bad signature$"):
        await process(forged)
    below_entry = block.with_work(0)
    while below_entry.work_valid(receive_threshold):
        below_entry = below_entry.with_work(below_entry.work + 1)
    with pytest.raises(NodeError, match=r": Block work is less than threshold$"):
        await process(below_entry)
    with pytest.raises(NodeError, match=r": Block work is insufficient$"):
        await process(work_between(block, receive_threshold, send_threshold))
    with pytest.raises(NodeError, match=r": Invalid block balance for given subtype$"):
        await process(block, subtype="receive")
    with pytest.raises(NodeError, match=r": Block is invalid$"):
        await nano_rpc.call("process", json_block="true", block={**block.to_json(), "signature": "00"})
    with pytest.raises(NodeError, match=r": Block is invalid$"):
        await nano_rpc.call("process", block=block.to_json())  # an object without json_block
    gap = await send_block(nano_rpc, nano_devnet.info, payer, payee.public_key, XNO, previous=b"\x11" * 32)
    with pytest.raises(NodeError, match=r": Gap previous block$"):
        await process(gap)
    with pytest.raises(NodeError, match=r": Gap previous block$"):
        await process(gap, subtype="send")
    # The block as a JSON string (json_block false) is accepted.
    answer = await nano_rpc.call("process", block=json.dumps(block.to_json()))
    assert answer["hash"] == block.hash.hex().upper()
    with pytest.raises(NodeError, match=r": Old block$"):
        await process(block)
    rival = await send_block(
        nano_rpc,
        nano_devnet.info,
        payer,
        NanoAccount.generate().public_key,
        2 * XNO,
        previous=block.previous,
        balance=5 * XNO,
    )
    with pytest.raises(NodeError, match=r": Fork$"):
        await process(rival, subtype="send")


async def test_async_process(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    block = await send_block(nano_rpc, nano_devnet.info, payer, NanoAccount.generate().public_key, 1)
    answer = await nano_rpc.call("process", json_block="true", block=block.to_json(), **{"async": "true"})
    assert answer == {"started": "1"}
    assert (await nano_rpc.call("block_info", hash=block.hash.hex()))["block_account"] == payer.address


async def test_held_confirmations(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(3 * XNO)
    await nano_rpc.call("devnet_hold_confirmations", account=payer.address)
    try:
        block = await send_block(nano_rpc, nano_devnet.info, payer, NanoAccount.generate().public_key, XNO)
        await nano_rpc.call("process", json_block="true", block=block.to_json())
        await nano_rpc.call("block_confirm", hash=block.hash.hex())  # refused while held
        state = await nano_rpc.call("account_info", account=payer.address, include_confirmed="true")
        assert state["frontier"] == block.hash.hex().upper()
        assert state["confirmed_frontier"] != state["frontier"]
        assert state["balance"] == str(2 * XNO)
        assert state["confirmed_balance"] == str(3 * XNO)
        assert (await nano_rpc.call("block_info", hash=block.hash.hex()))["confirmed"] == "false"
    finally:
        await nano_rpc.call("devnet_release_confirmations", account=payer.address)
    await nano_rpc.wait_confirmed(block.hash.hex())
    state = await nano_rpc.call("account_info", account=payer.address, include_confirmed="true")
    assert state["confirmed_frontier"] == state["frontier"]


async def test_block_confirm_confirms_at_once(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    block = await send_block(nano_rpc, nano_devnet.info, payer, NanoAccount.generate().public_key, 1)
    await nano_rpc.call("process", json_block="true", block=block.to_json())
    assert (await nano_rpc.call("block_confirm", hash=block.hash.hex())) == {"started": "1"}
    assert (await nano_rpc.call("block_info", hash=block.hash.hex()))["confirmed"] == "true"


async def test_work_validate_and_generate(nano_rpc, nano_devnet):
    send_threshold, _ = thresholds(nano_devnet.info)
    root = "AB" * 32
    generated = await nano_rpc.call("work_generate", hash=root)
    assert set(generated) == {"hash", "work", "difficulty", "multiplier"}
    assert int(generated["difficulty"], 16) >= send_threshold
    validated = await nano_rpc.call("work_validate", hash=root, work=generated["work"])
    assert validated["valid_all"] == "1" and validated["valid_receive"] == "1"
    assert validated["difficulty"] == generated["difficulty"]
    assert "valid" not in validated
    harder = f"{int(generated['difficulty'], 16) + 1:016x}"
    assert (await nano_rpc.call("work_validate", hash=root, work=generated["work"], difficulty=harder))[
        "valid"
    ] == "0"
    with pytest.raises(NodeError, match=r": Difficulty above config limit or below publish threshold$"):
        await nano_rpc.call("work_generate", hash=root, difficulty="ffffffffffffffff")
    with pytest.raises(NodeError, match=r": Bad work$"):
        await nano_rpc.call("work_validate", hash=root, work="xyz")


async def test_faucet_to_unknown_address_leaves_a_receivable(nano_rpc, nano_devnet):
    payee = NanoAccount.generate()
    send_hash = await faucet(nano_devnet.info, payee.address, 7)
    info = await nano_rpc.call("block_info", hash=send_hash)
    assert info["amount"] == "7"
    assert decode_address(json.loads(info["contents"])["link_as_account"]) == payee.public_key
    with pytest.raises(NodeError, match=r": Account not found$"):
        await nano_rpc.call("account_info", account=payee.address)


async def test_faucet_to_a_payer_receives_it(nano_rpc, nano_devnet):
    payer = nano_devnet.info["payers"][0]
    before = int((await nano_rpc.call("account_info", account=payer["account"]))["balance"])
    await faucet(nano_devnet.info, payer["account"], 11)
    after = int((await nano_rpc.call("account_info", account=payer["account"]))["balance"])
    assert after - before == 11


async def test_fund_account_twice_receives_into_an_open_account(nano_rpc, nano_devnet):
    account = NanoAccount.generate()
    _, opened = await fund_account(nano_devnet.info, account.secret_key, 3)
    _, received = await fund_account(nano_devnet.info, account.secret_key, 4)
    state = await nano_rpc.call("account_info", account=account.address, include_confirmed="true")
    assert state["confirmed_balance"] == "7"
    assert state["open_block"] == opened
    assert state["confirmed_frontier"] == received
    assert (await nano_rpc.call("block_info", hash=received))["subtype"] == "receive"


async def test_concurrent_faucet_calls_all_land(nano_rpc, nano_devnet):
    accounts = [NanoAccount.generate() for _ in range(5)]
    hashes = await asyncio.gather(*(faucet(nano_devnet.info, a.address, 1) for a in accounts))
    assert len(set(hashes)) == 5
    for account, send_hash in zip(accounts, hashes, strict=True):
        assert (await nano_rpc.call("receivable", account=account.address, include_only_confirmed="false"))[
            "blocks"
        ] == [send_hash]


def test_genesis_block_is_valid_and_confirmed(nano_devnet):
    ledger = nano_devnet.devnet.ledger
    genesis = ledger.blocks[bytes.fromhex(nano_devnet.info["genesisHash"])]
    assert genesis.confirmed and genesis.block.signature_valid()
    assert genesis.block.previous == ZERO_HASH


async def test_unparseable_requests(nano_devnet):
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for body in (b"not json", b"[1, 2]", b'{"no_action": 1}', b"\xff\xfe"):
            async with session.post(nano_devnet.rpc_url, data=body) as response:
                assert response.status == 200
                assert await response.json(content_type=None) == {"error": "Unable to parse JSON"}
