"""The EVM devnet: token placed at the Base Sepolia USDC address, EIP-3009 semantics, ERC-1271, faucet, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_hash.auto import keccak

from tests.fixtures.evm import (
    TRANSFER_WITH_AUTHORIZATION_TYPES,
    deploy_smart_wallet,
    free_port,
    funded_payer,
    sign_authorization,
)
from tests.fixtures.processes import running, wait_gone
from x402fac.devnet.evm import USDC_ADDRESS, faucet
from x402fac.devnet.evm.rpc import DevnetRpc, RpcError, calldata

TWA_VRS = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
TWA_BYTES = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"
AUTH_TYPES = ["address", "address", "uint256", "uint256", "uint256", "bytes32"]


def twa_vrs(authorization: dict, signature: bytes) -> str:
    return calldata(
        TWA_VRS,
        [*AUTH_TYPES, "uint8", "bytes32", "bytes32"],
        [*_auth_args(authorization), signature[64], signature[:32], signature[32:64]],
    )


def twa_bytes(authorization: dict, signature: bytes) -> str:
    return calldata(TWA_BYTES, [*AUTH_TYPES, "bytes"], [*_auth_args(authorization), signature])


def _auth_args(a: dict) -> list:
    return [
        a["from"],
        a["to"],
        int(a["value"]),
        int(a["validAfter"]),
        int(a["validBefore"]),
        bytes.fromhex(a["nonce"][2:]),
    ]


async def read(
    rpc: DevnetRpc, signature: str, types: list[str] | None = None, args: list | None = None
) -> bytes:
    return await rpc.eth_call(USDC_ADDRESS, calldata(signature, types or [], args or []))


async def balance_of(rpc: DevnetRpc, address: str) -> int:
    return decode(["uint256"], await read(rpc, "balanceOf(address)", ["address"], [address]))[0]


async def revert_reason(rpc: DevnetRpc, data: str, sender: str | None = None) -> str:
    """The Error(string) a call (from `sender`) reverts with (fails the test when it does not revert)."""
    with pytest.raises(RpcError) as raised:
        await rpc.call("eth_call", {"from": sender, "to": USDC_ADDRESS, "data": data}, "latest")
    revert = bytes.fromhex(raised.value.error["data"][2:])
    assert revert[:4] == keccak(b"Error(string)")[:4]
    return decode(["string"], revert[4:])[0]


def window(seconds: int = 300) -> tuple[int, int]:
    now = int(time.time())
    return now - 60, now + seconds


async def test_token_is_placed_at_the_base_sepolia_usdc_address(evm_devnet: dict) -> None:
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        assert await rpc.chain_id() == 84532
        code = await rpc.call("eth_getCode", USDC_ADDRESS, "latest")
        assert len(code) > 1000
        assert decode(["string"], await read(rpc, "name()"))[0] == "USDC"
        assert decode(["string"], await read(rpc, "version()"))[0] == "2"
        assert decode(["uint8"], await read(rpc, "decimals()"))[0] == 6
        minter = decode(["address"], await read(rpc, "minter()"))[0]
        assert minter.lower() == evm_devnet["minter"]["address"].lower()
        for payer in evm_devnet["payers"]:
            assert await balance_of(rpc, payer["address"]) == 1_000_000 * 10**6
        for signer in evm_devnet["facilitators"]:
            assert await rpc.balance(signer["address"]) > 10**18


async def test_eip712_domain_is_usdc_version_2_on_chain_84532(evm_devnet: dict) -> None:
    domain_typehash = keccak(
        b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [domain_typehash, keccak(b"USDC"), keccak(b"2"), 84532, USDC_ADDRESS],
        )
    )
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        assert await read(rpc, "DOMAIN_SEPARATOR()") == expected


async def test_initialize_cannot_be_repeated(evm_devnet: dict) -> None:
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        data = calldata("initialize(address)", ["address"], [Account.create().address])
        assert await revert_reason(rpc, data) == "FiatToken: contract is already initialized"


async def test_transfer_with_authorization_then_replay_reverts(evm_devnet: dict) -> None:
    payer = await funded_payer(evm_devnet, 5_000_000)
    payee = Account.create().address
    signer = evm_devnet["facilitators"][0]["privateKey"]
    after, before = window()
    authorization, signature = sign_authorization(
        payer, evm_devnet, to=payee, value=1_250_000, valid_after=after, valid_before=before
    )
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        receipt = await rpc.wait_receipt(
            await rpc.send(signer, USDC_ADDRESS, twa_vrs(authorization, signature))
        )
        topics = [log["topics"][0] for log in receipt["logs"]]
        assert "0x" + keccak(b"AuthorizationUsed(address,bytes32)").hex() in topics
        assert "0x" + keccak(b"Transfer(address,address,uint256)").hex() in topics
        assert await balance_of(rpc, payee) == 1_250_000
        assert await balance_of(rpc, payer.address) == 3_750_000
        used = await read(
            rpc,
            "authorizationState(address,bytes32)",
            ["address", "bytes32"],
            [payer.address, bytes.fromhex(authorization["nonce"][2:])],
        )
        assert decode(["bool"], used)[0] is True
        for replay in (twa_vrs(authorization, signature), twa_bytes(authorization, signature)):
            assert await revert_reason(rpc, replay) == "FiatTokenV2: authorization is used or canceled"


async def test_bytes_signature_overload_transfers(evm_devnet: dict) -> None:
    payer = await funded_payer(evm_devnet, 1_000_000)
    payee = Account.create().address
    after, before = window()
    authorization, signature = sign_authorization(
        payer, evm_devnet, to=payee, value=400_000, valid_after=after, valid_before=before
    )
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        signer = evm_devnet["facilitators"][0]["privateKey"]
        await rpc.wait_receipt(await rpc.send(signer, USDC_ADDRESS, twa_bytes(authorization, signature)))
        assert await balance_of(rpc, payee) == 400_000


async def test_reverts_carry_fiat_token_reasons(evm_devnet: dict) -> None:
    payer = await funded_payer(evm_devnet, 1_000)
    payee = Account.create().address
    now = int(time.time())
    cases = {
        "FiatTokenV2: authorization is expired": dict(valid_after=0, valid_before=now - 10, value=1),
        "FiatTokenV2: authorization is not yet valid": dict(
            valid_after=now + 3600, valid_before=now + 7200, value=1
        ),
        "ERC20: transfer amount exceeds balance": dict(valid_after=0, valid_before=now + 300, value=1_001),
    }
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        for expected, fields in cases.items():
            authorization, signature = sign_authorization(payer, evm_devnet, to=payee, **fields)
            assert await revert_reason(rpc, twa_vrs(authorization, signature)) == expected
        authorization, _ = sign_authorization(
            payer, evm_devnet, to=payee, value=1, valid_after=0, valid_before=now + 300
        )
        _, foreign = sign_authorization(
            Account.create(), evm_devnet, to=payee, value=1, valid_after=0, valid_before=now + 300
        )
        assert await revert_reason(rpc, twa_bytes(authorization, foreign)) == "FiatTokenV2: invalid signature"
        # Signed for another domain version: recovers to another address.
        authorization, wrong_domain = sign_authorization(
            payer, evm_devnet, to=payee, value=1, valid_after=0, valid_before=now + 300, version="1"
        )
        assert (
            await revert_reason(rpc, twa_bytes(authorization, wrong_domain))
            == "FiatTokenV2: invalid signature"
        )


@pytest.mark.parametrize("overload", ["bytes", "vrs"])
async def test_cancel_authorization_blocks_the_transfer(evm_devnet: dict, overload: str) -> None:
    payer = await funded_payer(evm_devnet, 1_000)
    payee = Account.create().address
    authorization, signature = sign_authorization(
        payer, evm_devnet, to=payee, value=10, valid_after=0, valid_before=int(time.time()) + 300
    )
    nonce = bytes.fromhex(authorization["nonce"][2:])
    cancel = payer.sign_typed_data(
        {"name": "USDC", "version": "2", "chainId": 84532, "verifyingContract": USDC_ADDRESS},
        {
            "CancelAuthorization": [
                {"name": "authorizer", "type": "address"},
                {"name": "nonce", "type": "bytes32"},
            ]
        },
        {"authorizer": payer.address, "nonce": nonce},
    )
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        cancel_signature = bytes(cancel.signature)
        if overload == "bytes":
            data = calldata(
                "cancelAuthorization(address,bytes32,bytes)",
                ["address", "bytes32", "bytes"],
                [payer.address, nonce, cancel_signature],
            )
        else:
            data = calldata(
                "cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)",
                ["address", "bytes32", "uint8", "bytes32", "bytes32"],
                [payer.address, nonce, cancel_signature[64], cancel_signature[:32], cancel_signature[32:64]],
            )
        receipt = await rpc.wait_receipt(
            await rpc.send(evm_devnet["facilitators"][0]["privateKey"], USDC_ADDRESS, data)
        )
        assert (
            receipt["logs"][0]["topics"][0] == "0x" + keccak(b"AuthorizationCanceled(address,bytes32)").hex()
        )
        assert (
            await revert_reason(rpc, twa_vrs(authorization, signature))
            == "FiatTokenV2: authorization is used or canceled"
        )


async def test_receive_with_authorization_is_for_its_payee_alone(evm_devnet: dict) -> None:
    payer = await funded_payer(evm_devnet, 1_000_000)
    payee, stranger = evm_devnet["facilitators"][1], evm_devnet["facilitators"][0]
    after, before = window()
    nonce = os.urandom(32)
    message = {
        "from": payer.address,
        "to": payee["address"],
        "value": 300_000,
        "validAfter": after,
        "validBefore": before,
        "nonce": nonce,
    }
    types = {"ReceiveWithAuthorization": TRANSFER_WITH_AUTHORIZATION_TYPES["TransferWithAuthorization"]}
    domain = {"name": "USDC", "version": "2", "chainId": 84532, "verifyingContract": USDC_ADDRESS}
    signature = bytes(payer.sign_typed_data(domain, types, message).signature)
    args = [payer.address, payee["address"], 300_000, after, before, nonce]
    vrs = calldata(
        "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)",
        [*AUTH_TYPES, "uint8", "bytes32", "bytes32"],
        [*args, signature[64], signature[:32], signature[32:64]],
    )
    with_bytes = calldata(
        "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)",
        [*AUTH_TYPES, "bytes"],
        [*args, signature],
    )
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        for data in (vrs, with_bytes):
            reason = await revert_reason(rpc, data, stranger["address"])
            assert reason == "FiatTokenV2: caller must be the payee"
        # A receive signature is no transfer authorization: the typehash differs.
        transfer = {**message, "value": "300000", "validAfter": str(after), "validBefore": str(before)}
        transfer["nonce"] = "0x" + nonce.hex()
        assert await revert_reason(rpc, twa_bytes(transfer, signature)) == "FiatTokenV2: invalid signature"
        held = await balance_of(rpc, payee["address"])
        await rpc.wait_receipt(await rpc.send(payee["privateKey"], USDC_ADDRESS, vrs))
        assert await balance_of(rpc, payee["address"]) == held + 300_000
        reason = await revert_reason(rpc, with_bytes, payee["address"])
        assert reason == "FiatTokenV2: authorization is used or canceled"


async def test_erc1271_wallet_pays_with_its_owner_signature_only(evm_devnet: dict) -> None:
    owner = Account.create()
    wallet = await deploy_smart_wallet(evm_devnet, owner.address, usdc=2_000)
    payee = Account.create().address
    deadline = int(time.time()) + 300
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        authorization, by_stranger = sign_authorization(
            Account.create(), evm_devnet, to=payee, value=700, valid_after=0, valid_before=deadline
        )
        authorization["from"] = wallet
        assert (
            await revert_reason(rpc, twa_bytes(authorization, by_stranger))
            == "FiatTokenV2: invalid signature"
        )

        authorization, by_owner = sign_authorization(
            owner, evm_devnet, to=payee, value=700, valid_after=0, valid_before=deadline
        )
        authorization["from"] = wallet
        # The owner signed the digest of an authorization from the owner's address, not the wallet's.
        assert (
            await revert_reason(rpc, twa_bytes(authorization, by_owner)) == "FiatTokenV2: invalid signature"
        )

        authorization, signature = sign_authorization(
            owner, evm_devnet, to=payee, value=700, valid_after=0, valid_before=deadline, from_address=wallet
        )
        signer = evm_devnet["facilitators"][0]["privateKey"]
        await rpc.wait_receipt(await rpc.send(signer, USDC_ADDRESS, twa_bytes(authorization, signature)))
        assert await balance_of(rpc, payee) == 700
        assert await balance_of(rpc, wallet) == 1_300


async def test_faucet_mints_usdc_and_tops_up_gas(evm_devnet: dict) -> None:
    address = Account.create().address
    tx_hash = await faucet(evm_devnet, address, 123_456)
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        receipt = await rpc.wait_receipt(tx_hash)
        assert receipt["to"].lower() == USDC_ADDRESS.lower()
        assert await balance_of(rpc, address) == 123_456
        assert await rpc.balance(address) > 0
        await asyncio.gather(*(faucet(evm_devnet, address, 1) for _ in range(5)))
        assert await balance_of(rpc, address) == 123_461


async def test_transfer_on_one_second_blocks(evm_devnet_1s: dict) -> None:
    payer = await funded_payer(evm_devnet_1s, 1_000)
    payee = Account.create().address
    authorization, signature = sign_authorization(
        payer, evm_devnet_1s, to=payee, value=999, valid_after=0, valid_before=int(time.time()) + 300
    )
    async with DevnetRpc(evm_devnet_1s["rpcUrl"]) as rpc:
        signer = evm_devnet_1s["facilitators"][0]["privateKey"]
        await rpc.wait_receipt(await rpc.send(signer, USDC_ADDRESS, twa_vrs(authorization, signature)))
        assert await balance_of(rpc, payee) == 999


async def test_cli_writes_info_prints_rpc_line_and_stops_on_sigterm(tmp_path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "x402fac.devnet.evm", "--port", str(port), "--data-dir", str(tmp_path),
        "--block-time", "1",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        assert line.decode().strip() == f"evm devnet RPC http://127.0.0.1:{port}"
        info = json.loads((tmp_path / "devnet-evm.json").read_text())
        assert info["rpcUrl"] == f"http://127.0.0.1:{port}"
        assert info["blockTime"] == 1
        assert (
            Account.from_key(info["facilitators"][0]["privateKey"]).address
            == info["facilitators"][0]["address"]
        )
        assert oct((tmp_path / "devnet-evm.json").stat().st_mode)[-3:] == "600"
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    with pytest.raises(OSError):
        os.kill(info["anvilPid"], 0)


async def test_a_killed_devnet_process_leaves_no_anvil(tmp_path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "x402fac.devnet.evm", "--port", str(free_port()), "--data-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    anvil = 0
    try:
        assert b"devnet RPC" in await asyncio.wait_for(process.stdout.readline(), 120)
        anvil = json.loads((tmp_path / "devnet-evm.json").read_text())["anvilPid"]
        assert running(anvil)
        process.kill()
        await process.wait()
        assert await asyncio.to_thread(wait_gone, anvil)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if anvil and running(anvil):
            os.kill(anvil, signal.SIGKILL)
