"""The devnet's Permit2, x402 Permit2 proxies and extra tokens, checked against payloads the official
SDK client signs (x402.mechanisms.evm: exact and upto Permit2 payloads, the EIP-2612 permit)."""

from __future__ import annotations

import time

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_hash.auto import keccak
from x402.mechanisms.evm import constants as sdk
from x402.mechanisms.evm.exact.permit2_utils import create_permit2_payload
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.mechanisms.evm.upto.client import _create_upto_permit2_payload
from x402.schemas import PaymentRequirements

from tests.fixtures.permit2 import permit2_typed_data, sdk_eip2612_permit
from x402fac.devnet.evm import (
    EIP2612_ADDRESS,
    ERC20_ADDRESS,
    EXACT_PERMIT2_PROXY_ADDRESS,
    PERMIT2_ADDRESS,
    UPTO_PERMIT2_PROXY_ADDRESS,
    approve,
    faucet,
)
from x402fac.devnet.evm.rpc import DevnetRpc, RpcError, calldata

PERMIT = "((address,uint256),uint256,uint256)"
EXACT_SETTLE = f"settle({PERMIT},address,(address,uint256),bytes)"
EXACT_SETTLE_WITH_PERMIT = (
    f"settleWithPermit((uint256,uint256,bytes32,bytes32,uint8),{PERMIT},address,(address,uint256),bytes)"
)
UPTO_SETTLE = f"settle({PERMIT},uint256,address,(address,address,uint256),bytes)"
UNIT = 10**18


def error(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def requirements(info: dict, token: str, pay_to: str, amount: int, **extra: str) -> PaymentRequirements:
    return PaymentRequirements(
        scheme="exact",
        network=info["network"],
        asset=token,
        amount=str(amount),
        pay_to=pay_to,
        max_timeout_seconds=300,
        extra={"assetTransferMethod": "permit2", **extra},
    )


def exact_args(payload: dict) -> list:
    auth = payload["permit2Authorization"]
    permit = (
        (auth["permitted"]["token"], int(auth["permitted"]["amount"])),
        int(auth["nonce"]),
        int(auth["deadline"]),
    )
    witness = (auth["witness"]["to"], int(auth["witness"]["validAfter"]))
    return [permit, auth["from"], witness, bytes.fromhex(payload["signature"][2:])]


def exact_settle(payload: dict) -> str:
    return calldata(EXACT_SETTLE, [PERMIT, "address", "(address,uint256)", "bytes"], exact_args(payload))


async def balance(rpc: DevnetRpc, token: str, owner: str) -> int:
    return decode(
        ["uint256"], await rpc.eth_call(token, calldata("balanceOf(address)", ["address"], [owner]))
    )[0]


async def revert_data(rpc: DevnetRpc, sender: str, to: str, data: str) -> bytes:
    """What the call reverts with when `sender` makes it (fails the test when it does not revert)."""
    with pytest.raises(RpcError) as raised:
        await rpc.call("eth_call", {"from": sender, "to": to, "data": data}, "latest")
    return bytes.fromhex(raised.value.error["data"][2:])


async def payer_with(info: dict, token: str, amount: int = 10 * UNIT, approved: bool = True):
    account = Account.create()
    await faucet(info, account.address, amount, token=token)
    if approved:
        await approve(info, "0x" + bytes(account.key).hex(), token)
    return account


async def test_contracts_are_placed_at_their_addresses(evm_devnet: dict) -> None:
    info = evm_devnet
    assert info["permit2"] == {
        "address": sdk.PERMIT2_ADDRESS,
        "exactProxy": sdk.X402_EXACT_PERMIT2_PROXY_ADDRESS,
        "uptoProxy": sdk.X402_UPTO_PERMIT2_PROXY_ADDRESS,
    }
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        for address in (
            PERMIT2_ADDRESS,
            EXACT_PERMIT2_PROXY_ADDRESS,
            UPTO_PERMIT2_PROXY_ADDRESS,
            ERC20_ADDRESS,
        ):
            assert len(await rpc.call("eth_getCode", address, "latest")) > 1000
        # Permit2's EIP-712 domain has no version: the SDK's domain must hash to the contract's.
        separator = await rpc.eth_call(PERMIT2_ADDRESS, calldata("DOMAIN_SEPARATOR()", [], []))
        signable = permit2_typed_data(info["chainId"], "Empty", {"Empty": []}, {})
        assert separator == signable.header
        witness_type = decode(
            ["string"],
            await rpc.eth_call(EXACT_PERMIT2_PROXY_ADDRESS, calldata("WITNESS_TYPE_STRING()", [], [])),
        )
        assert witness_type[0].endswith("Witness(address to,uint256 validAfter)")
        # Every payer holds each devnet token; nobody approved Permit2 yet.
        payer = info["payers"][0]["address"]
        for token in (ERC20_ADDRESS, EIP2612_ADDRESS):
            assert await balance(rpc, token, payer) == 1_000_000 * UNIT
            allowance = await rpc.eth_call(
                token,
                calldata("allowance(address,address)", ["address", "address"], [payer, PERMIT2_ADDRESS]),
            )
            assert decode(["uint256"], allowance)[0] == 0


async def test_exact_proxy_settles_an_sdk_permit2_payment_once(evm_devnet: dict) -> None:
    info = evm_devnet
    payer = await payer_with(info, ERC20_ADDRESS)
    pay_to = Account.create().address
    facilitator = info["facilitators"][0]
    payload = create_permit2_payload(
        EthAccountSigner(payer), requirements(info, ERC20_ADDRESS, pay_to, 3 * UNIT)
    )
    assert payload["permit2Authorization"]["spender"] == EXACT_PERMIT2_PROXY_ADDRESS
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        tx_hash = await rpc.send(
            facilitator["privateKey"], EXACT_PERMIT2_PROXY_ADDRESS, exact_settle(payload)
        )
        receipt = await rpc.wait_receipt(tx_hash)
        assert await balance(rpc, ERC20_ADDRESS, pay_to) == 3 * UNIT
        assert await balance(rpc, ERC20_ADDRESS, payer.address) == 7 * UNIT
        settled = keccak(b"Settled()")
        assert any(log["topics"][0] == "0x" + settled.hex() for log in receipt["logs"])
        # The nonce's bit is set in the owner's bitmap, and the same payment cannot move money again.
        nonce = int(payload["permit2Authorization"]["nonce"])
        word = await rpc.eth_call(
            PERMIT2_ADDRESS,
            calldata("nonceBitmap(address,uint256)", ["address", "uint256"], [payer.address, nonce >> 8]),
        )
        assert decode(["uint256"], word)[0] >> (nonce & 0xFF) & 1 == 1
        again = await revert_data(
            rpc, facilitator["address"], EXACT_PERMIT2_PROXY_ADDRESS, exact_settle(payload)
        )
        assert again[:4] == error("InvalidNonce()")


async def test_permit2_refuses_what_the_payer_did_not_sign(evm_devnet: dict) -> None:
    info = evm_devnet
    payer = await payer_with(info, ERC20_ADDRESS)
    pay_to = Account.create().address
    stranger = Account.create().address
    sender = info["facilitators"][0]["address"]
    payload = create_permit2_payload(EthAccountSigner(payer), requirements(info, ERC20_ADDRESS, pay_to, UNIT))
    auth = payload["permit2Authorization"]
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        redirected = exact_args(payload)
        redirected[2] = (stranger, 0)
        data = calldata(EXACT_SETTLE, [PERMIT, "address", "(address,uint256)", "bytes"], redirected)
        assert (await revert_data(rpc, sender, EXACT_PERMIT2_PROXY_ADDRESS, data))[:4] == error(
            "InvalidSigner()"
        )
        inflated = exact_args(payload)
        inflated[0] = ((ERC20_ADDRESS, 2 * UNIT), inflated[0][1], inflated[0][2])
        data = calldata(EXACT_SETTLE, [PERMIT, "address", "(address,uint256)", "bytes"], inflated)
        assert (await revert_data(rpc, sender, EXACT_PERMIT2_PROXY_ADDRESS, data))[:4] == error(
            "InvalidSigner()"
        )
        # Calling Permit2 directly makes the caller the spender, which the payer did not sign for.
        witness = keccak(
            encode(
                ["bytes32", "address", "uint256"],
                [keccak(b"Witness(address to,uint256 validAfter)"), pay_to, 0],
            )
        )
        type_string = "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"
        direct = calldata(
            f"permitWitnessTransferFrom({PERMIT},(address,uint256),address,bytes32,string,bytes)",
            [PERMIT, "(address,uint256)", "address", "bytes32", "string", "bytes"],
            [
                exact_args(payload)[0],
                (stranger, UNIT),
                auth["from"],
                witness,
                type_string,
                exact_args(payload)[3],
            ],
        )
        assert (await revert_data(rpc, stranger, PERMIT2_ADDRESS, direct))[:4] == error("InvalidSigner()")
        # A wrong-length signature and an expired deadline.
        short = exact_args(payload)
        short[3] = short[3][:63]
        data = calldata(EXACT_SETTLE, [PERMIT, "address", "(address,uint256)", "bytes"], short)
        assert (await revert_data(rpc, sender, EXACT_PERMIT2_PROXY_ADDRESS, data))[:4] == error(
            "InvalidSignatureLength()"
        )
        expired = create_permit2_payload(
            EthAccountSigner(payer), requirements(info, ERC20_ADDRESS, pay_to, UNIT)
        )
        expired_args = exact_args(expired)
        expired_args[0] = (expired_args[0][0], expired_args[0][1], int(time.time()) - 10)
        data = calldata(EXACT_SETTLE, [PERMIT, "address", "(address,uint256)", "bytes"], expired_args)
        assert (await revert_data(rpc, sender, EXACT_PERMIT2_PROXY_ADDRESS, data))[:4] == error(
            "SignatureExpired(uint256)"
        )
        assert await balance(rpc, ERC20_ADDRESS, pay_to) == 0


async def test_permit_transfer_from_moves_what_the_payer_signed_for_its_spender_only(
    evm_devnet: dict,
) -> None:
    """The witness-less SignatureTransfer, signed as Permit2's PermitTransferFrom by any EIP-712 client."""
    info = evm_devnet
    payer = await payer_with(info, ERC20_ADDRESS)
    spender, stranger = info["facilitators"][0], info["facilitators"][1]
    to = Account.create().address
    permit = ((ERC20_ADDRESS, 2 * UNIT), 77, int(time.time()) + 600)
    # The witness struct's members but its last one, the witness.
    witness_types = sdk.PERMIT2_WITNESS_TYPES
    types = {
        "PermitTransferFrom": witness_types["PermitWitnessTransferFrom"][:-1],
        "TokenPermissions": witness_types["TokenPermissions"],
    }
    message = {
        "permitted": {"token": ERC20_ADDRESS, "amount": 2 * UNIT},
        "spender": spender["address"],
        "nonce": permit[1],
        "deadline": permit[2],
    }
    signature = payer.sign_message(
        permit2_typed_data(info["chainId"], "PermitTransferFrom", types, message)
    ).signature

    def transfer(amount: int) -> str:
        return calldata(
            f"permitTransferFrom({PERMIT},(address,uint256),address,bytes)",
            [PERMIT, "(address,uint256)", "address", "bytes"],
            [permit, (to, amount), payer.address, signature],
        )

    async with DevnetRpc(info["rpcUrl"]) as rpc:
        stolen = await revert_data(rpc, stranger["address"], PERMIT2_ADDRESS, transfer(2 * UNIT))
        assert stolen[:4] == error("InvalidSigner()")
        too_much = await revert_data(rpc, spender["address"], PERMIT2_ADDRESS, transfer(3 * UNIT))
        assert too_much[:4] == error("InvalidAmount(uint256)")
        await rpc.wait_receipt(await rpc.send(spender["privateKey"], PERMIT2_ADDRESS, transfer(UNIT)))
        assert await balance(rpc, ERC20_ADDRESS, to) == UNIT
        again = await revert_data(rpc, spender["address"], PERMIT2_ADDRESS, transfer(UNIT))
        assert again[:4] == error("InvalidNonce()")


async def test_without_an_allowance_the_transfer_fails(evm_devnet: dict) -> None:
    info = evm_devnet
    payer = await payer_with(info, ERC20_ADDRESS, approved=False)
    payload = create_permit2_payload(
        EthAccountSigner(payer), requirements(info, ERC20_ADDRESS, Account.create().address, UNIT)
    )
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        data = await revert_data(
            rpc, info["facilitators"][0]["address"], EXACT_PERMIT2_PROXY_ADDRESS, exact_settle(payload)
        )
    assert data[:4] == error("Error(string)") and decode(["string"], data[4:])[0] == "TRANSFER_FROM_FAILED"


async def test_settle_with_permit_uses_the_sdk_eip2612_signature(evm_devnet: dict) -> None:
    info = evm_devnet
    payer = await payer_with(info, EIP2612_ADDRESS, approved=False)
    pay_to = Account.create().address
    token = info["tokens"]["eip2612"]
    req = requirements(info, EIP2612_ADDRESS, pay_to, 2 * UNIT, name=token["name"], version=token["version"])
    payload = create_permit2_payload(EthAccountSigner(payer), req)
    permit = sdk_eip2612_permit(
        info, payer, EIP2612_ADDRESS, payload["permit2Authorization"]["deadline"], 2 * UNIT
    )
    signature = bytes.fromhex(permit.signature[2:])

    def with_permit(value: int) -> str:
        permit2612 = (value, int(permit.deadline), signature[:32], signature[32:64], signature[64])
        return calldata(
            EXACT_SETTLE_WITH_PERMIT,
            ["(uint256,uint256,bytes32,bytes32,uint8)", PERMIT, "address", "(address,uint256)", "bytes"],
            [permit2612, *exact_args(payload)],
        )

    facilitator = info["facilitators"][0]
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        mismatch = await revert_data(
            rpc, facilitator["address"], EXACT_PERMIT2_PROXY_ADDRESS, with_permit(3 * UNIT)
        )
        assert mismatch[:4] == error("Permit2612AmountMismatch()")
        await rpc.wait_receipt(
            await rpc.send(facilitator["privateKey"], EXACT_PERMIT2_PROXY_ADDRESS, with_permit(2 * UNIT))
        )
        assert await balance(rpc, EIP2612_ADDRESS, pay_to) == 2 * UNIT
        nonces = await rpc.eth_call(
            EIP2612_ADDRESS, calldata("nonces(address)", ["address"], [payer.address])
        )
        assert decode(["uint256"], nonces)[0] == 1


async def test_upto_proxy_settles_up_to_the_maximum_for_the_named_facilitator_only(evm_devnet: dict) -> None:
    info = evm_devnet
    payer = await payer_with(info, ERC20_ADDRESS)
    pay_to = Account.create().address
    facilitator, other = info["facilitators"][0], info["facilitators"][1]
    req = requirements(info, ERC20_ADDRESS, pay_to, 5 * UNIT, facilitatorAddress=facilitator["address"])
    req.scheme = "upto"
    payload = _create_upto_permit2_payload(EthAccountSigner(payer), req)
    auth = payload["permit2Authorization"]
    assert auth["spender"] == UPTO_PERMIT2_PROXY_ADDRESS

    def settle(amount: int) -> str:
        permit = (
            (auth["permitted"]["token"], int(auth["permitted"]["amount"])),
            int(auth["nonce"]),
            int(auth["deadline"]),
        )
        witness = (auth["witness"]["to"], auth["witness"]["facilitator"], int(auth["witness"]["validAfter"]))
        return calldata(
            UPTO_SETTLE,
            [PERMIT, "uint256", "address", "(address,address,uint256)", "bytes"],
            [permit, amount, auth["from"], witness, bytes.fromhex(payload["signature"][2:])],
        )

    async with DevnetRpc(info["rpcUrl"]) as rpc:
        assert (await revert_data(rpc, other["address"], UPTO_PERMIT2_PROXY_ADDRESS, settle(UNIT)))[
            :4
        ] == error("UnauthorizedFacilitator()")
        assert (await revert_data(rpc, facilitator["address"], UPTO_PERMIT2_PROXY_ADDRESS, settle(6 * UNIT)))[
            :4
        ] == error("AmountExceedsPermitted()")
        assert (await revert_data(rpc, facilitator["address"], UPTO_PERMIT2_PROXY_ADDRESS, settle(0)))[
            :4
        ] == error("InvalidAmount()")
        await rpc.wait_receipt(
            await rpc.send(facilitator["privateKey"], UPTO_PERMIT2_PROXY_ADDRESS, settle(2 * UNIT))
        )
        assert await balance(rpc, ERC20_ADDRESS, pay_to) == 2 * UNIT
        assert (await revert_data(rpc, facilitator["address"], UPTO_PERMIT2_PROXY_ADDRESS, settle(UNIT)))[
            :4
        ] == error("InvalidNonce()")


async def test_allowance_transfer_approve_and_transfer_from(evm_devnet: dict) -> None:
    info = evm_devnet
    owner = await payer_with(info, ERC20_ADDRESS)
    spender = info["facilitators"][1]
    to = Account.create().address
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        expiry = int(time.time()) + 3600
        grant = calldata(
            "approve(address,address,uint160,uint48)",
            ["address", "address", "uint160", "uint48"],
            [ERC20_ADDRESS, spender["address"], UNIT, expiry],
        )
        await rpc.wait_receipt(await rpc.send("0x" + bytes(owner.key).hex(), PERMIT2_ADDRESS, grant))
        allowed = await rpc.eth_call(
            PERMIT2_ADDRESS,
            calldata(
                "allowance(address,address,address)",
                ["address"] * 3,
                [owner.address, ERC20_ADDRESS, spender["address"]],
            ),
        )
        assert decode(["uint160", "uint48", "uint48"], allowed) == (UNIT, expiry, 0)
        pull = calldata(
            "transferFrom(address,address,uint160,address)",
            ["address", "address", "uint160", "address"],
            [owner.address, to, UNIT // 4, ERC20_ADDRESS],
        )
        too_much = calldata(
            "transferFrom(address,address,uint160,address)",
            ["address", "address", "uint160", "address"],
            [owner.address, to, UNIT, ERC20_ADDRESS],
        )
        await rpc.wait_receipt(await rpc.send(spender["privateKey"], PERMIT2_ADDRESS, pull))
        assert await balance(rpc, ERC20_ADDRESS, to) == UNIT // 4
        assert (await revert_data(rpc, spender["address"], PERMIT2_ADDRESS, too_much))[:4] == error(
            "InsufficientAllowance(uint256)"
        )
