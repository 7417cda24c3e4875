"""Permit2 `exact` without a chain: the digest is the one the official SDK client signs, the payment id
ignores the encoding, calldata decodes to the proxy's arguments, errors are named, the payload and
extension decoders give a value or a PayloadError for anything (property tests)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st
from x402.mechanisms.evm import constants as sdk
from x402.mechanisms.evm.exact.permit2_utils import create_permit2_payload
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import PaymentRequirements

from tests.fixtures.permit2 import permit2_typed_data
from tests.fixtures.properties import SETTINGS
from x402fac.settings import SettingsError
from x402fac.worker_evm import permit2
from x402fac.worker_evm.config import load_config
from x402fac.worker_evm.eip3009 import PayloadError, checksum_address, recover_signer
from x402fac.worker_evm.transactions import decode_signed

TOKEN = "0x7E57000000000000000000000000000000000020"
CHAIN_ID = 84532
PERMIT = "((address,uint256),uint256,uint256)"


def sdk_payload(account, amount: int = 12345, pay_to: str | None = None) -> dict[str, Any]:
    requirements = PaymentRequirements(
        scheme="exact",
        network=f"eip155:{CHAIN_ID}",
        asset=TOKEN,
        amount=str(amount),
        pay_to=pay_to or Account.create().address,
        max_timeout_seconds=300,
        extra={"assetTransferMethod": "permit2"},
    )
    return create_permit2_payload(EthAccountSigner(account), requirements)


def test_constants_are_the_sdks() -> None:
    assert permit2.PERMIT2_ADDRESS == sdk.PERMIT2_ADDRESS
    assert permit2.EXACT_PROXY_ADDRESS == sdk.X402_EXACT_PERMIT2_PROXY_ADDRESS


def test_digest_is_what_the_sdk_client_signed() -> None:
    account = Account.create()
    payload = sdk_payload(account)
    auth, signature = permit2.parse_payload(payload)
    digest = permit2.digest(auth, CHAIN_ID)
    assert recover_signer(digest, signature) == account.address
    # and the same as eth_account's hash of the SDK's typed data
    raw = payload["permit2Authorization"]
    message = {
        "permitted": {"token": raw["permitted"]["token"], "amount": int(raw["permitted"]["amount"])},
        "spender": raw["spender"],
        "nonce": int(raw["nonce"]),
        "deadline": int(raw["deadline"]),
        "witness": {"to": raw["witness"]["to"], "validAfter": int(raw["witness"]["validAfter"])},
    }
    signable = permit2_typed_data(CHAIN_ID, "PermitWitnessTransferFrom", sdk.PERMIT2_WITNESS_TYPES, message)
    assert keccak(b"\x19\x01" + signable.header + signable.body) == digest
    # Another chain, amount or recipient is another digest: the signature no longer recovers.
    assert recover_signer(permit2.digest(auth, 8453), signature) != account.address
    altered = permit2.Permit2Authorization(**{**_fields(auth), "amount": auth.amount + 1})
    assert recover_signer(permit2.digest(altered, CHAIN_ID), signature) != account.address


def _fields(auth: permit2.Permit2Authorization) -> dict[str, Any]:
    return {name: getattr(auth, name) for name in auth.__slots__}


def test_payment_id_is_chain_permit2_owner_nonce_whatever_the_encoding() -> None:
    payload = sdk_payload(Account.create())
    auth, _ = permit2.parse_payload(payload)
    lowered = {
        **payload,
        "permit2Authorization": {
            **payload["permit2Authorization"],
            "from": payload["permit2Authorization"]["from"].lower(),
            "nonce": int(payload["permit2Authorization"]["nonce"]),
        },
    }
    again, _ = permit2.parse_payload(lowered)
    ids = {permit2.payment_id(CHAIN_ID, a.owner, a.nonce) for a in (auth, again)}
    assert ids == {f"{CHAIN_ID}/{sdk.PERMIT2_ADDRESS.lower()}/{auth.owner.lower()}/0x{auth.nonce:064x}"}


def test_settle_calldata_decodes_to_the_proxy_arguments() -> None:
    account = Account.create()
    auth, signature = permit2.parse_payload(sdk_payload(account, 777))
    data = permit2.settle_calldata(auth, signature, None)
    assert data[:4] == keccak(f"settle({PERMIT},address,(address,uint256),bytes)".encode())[:4]
    permit, owner, witness, sig = decode([PERMIT, "address", "(address,uint256)", "bytes"], data[4:])
    assert permit == ((auth.token.lower(), 777), auth.nonce, auth.deadline)
    assert owner == auth.owner.lower() and witness == (auth.to.lower(), 0) and sig == signature
    eip2612 = permit2.Eip2612Permit(
        auth.owner, auth.token, permit2.PERMIT2_ADDRESS, 777, 99, bytes(range(64)) + b"\x1c"
    )
    data = permit2.settle_calldata(auth, signature, eip2612)
    types = ["(uint256,uint256,bytes32,bytes32,uint8)", PERMIT, "address", "(address,uint256)", "bytes"]
    assert data[:4] == keccak(f"settleWithPermit({','.join(types)})".encode())[:4]
    assert decode(types, data[4:])[0] == (777, 99, bytes(range(32)), bytes(range(32, 64)), 28)


_ADDRESSES = st.binary(min_size=20, max_size=20).map(checksum_address)
_UINTS = st.integers(min_value=0, max_value=2**256 - 1)


@SETTINGS
@given(
    addresses=st.lists(_ADDRESSES, min_size=4, max_size=4),
    numbers=st.lists(_UINTS, min_size=5, max_size=5),
    signature=st.binary(max_size=200),
    permit_signature=st.one_of(st.none(), st.binary(min_size=65, max_size=65)),
)
def test_proxy_calldata_is_the_abi_encoding(
    addresses: list[str], numbers: list[int], signature: bytes, permit_signature: bytes | None
) -> None:
    """Every proxy call, exact and upto, with and without an EIP-2612 permit, is byte for byte what
    eth_abi encodes (a signature of any length: ERC-1271 wallets sign more than 65 bytes)."""
    owner, token, to, facilitator = addresses
    amount, nonce, deadline, valid_after, charged = numbers
    auth = permit2.Permit2Authorization(
        owner, token, amount, permit2.EXACT_PROXY_ADDRESS, nonce, deadline, to, valid_after
    )
    upto = permit2.Permit2Authorization(**{**_fields(auth), "facilitator": facilitator})
    permit = None
    prefix: tuple[list[str], list[Any]] = ([], [])
    if permit_signature is not None:
        permit = permit2.Eip2612Permit(
            owner, token, permit2.PERMIT2_ADDRESS, amount, deadline, permit_signature
        )
        v = permit_signature[64] if permit_signature[64] >= 27 else permit_signature[64] + 27
        prefix = (
            ["(uint256,uint256,bytes32,bytes32,uint8)"],
            [(amount, deadline, permit_signature[:32], permit_signature[32:64], v)],
        )
    exact_types = [*prefix[0], PERMIT, "address", "(address,uint256)", "bytes"]
    exact_args = [*prefix[1], ((token, amount), nonce, deadline), owner, (to, valid_after), signature]
    upto_types = [*prefix[0], PERMIT, "uint256", "address", "(address,address,uint256)", "bytes"]
    upto_args = [
        *prefix[1],
        ((token, amount), nonce, deadline),
        charged,
        owner,
        (to, facilitator, valid_after),
        signature,
    ]
    assert permit2.settle_calldata(auth, signature, permit)[4:] == encode(exact_types, exact_args)
    assert permit2.upto_settle_calldata(upto, signature, charged, permit)[4:] == encode(upto_types, upto_args)


def test_errors_are_named() -> None:
    assert permit2.decode_error(keccak(b"InvalidNonce()")[:4]) == "InvalidNonce"
    assert (
        permit2.decode_error(keccak(b"SignatureExpired(uint256)")[:4] + encode(["uint256"], [5]))
        == "SignatureExpired"
    )
    text = keccak(b"Error(string)")[:4] + encode(["string"], ["TRANSFER_FROM_FAILED"])
    assert permit2.decode_error(text) == "TRANSFER_FROM_FAILED"
    assert permit2.decode_error(b"\xde\xad") == "0xdead"


def test_nonce_bitmap_positions() -> None:
    nonce = (7 << 8) | 200
    data = permit2.nonce_bitmap_calldata(TOKEN, nonce)
    assert decode(["address", "uint256"], data[4:])[1] == 7
    assert permit2.nonce_used(1 << 200, nonce) and not permit2.nonce_used(1 << 199, nonce)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("permit2Authorization"), "payload.permit2Authorization is missing"),
        (lambda p: p["permit2Authorization"].pop("spender"), "permit2Authorization.spender is missing"),
        (lambda p: p["permit2Authorization"]["witness"].update(to="0x12"), "witness.to is not a 20-byte"),
        (
            lambda p: p["permit2Authorization"]["permitted"].update(amount="-1"),
            "permitted.amount is not a uint256",
        ),
        (lambda p: p["permit2Authorization"].update(nonce=str(2**256)), "nonce is not a uint256"),
        (lambda p: p.update(signature="0xzz"), "payload.signature is not a hex string"),
    ],
)
def test_malformed_payloads_say_which_field(change, message) -> None:
    payload = sdk_payload(Account.create())
    change(payload)
    with pytest.raises(PayloadError, match=message):
        permit2.parse_payload(payload)


def test_eip2612_extension_is_parsed_or_refused() -> None:
    owner = Account.create().address
    info = {
        "from": owner,
        "asset": TOKEN,
        "spender": sdk.PERMIT2_ADDRESS,
        "amount": "5",
        "nonce": "0",
        "deadline": str(int(time.time()) + 60),
        "signature": "0x" + "11" * 65,
        "version": "1",
    }
    permit = permit2.parse_eip2612({"eip2612GasSponsoring": {"info": info}})
    assert permit is not None and permit.owner == owner and permit.value == 5 and len(permit.signature) == 65
    assert permit2.parse_eip2612({"bazaar": {}}) is None and permit2.parse_eip2612(None) is None
    with pytest.raises(PayloadError, match="signature is not 65 bytes"):
        permit2.parse_eip2612({"eip2612GasSponsoring": {"info": {**info, "signature": "0x11"}}})
    with pytest.raises(PayloadError, match="info is missing"):
        permit2.parse_eip2612({"eip2612GasSponsoring": "yes"})


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
field_names = st.sampled_from(
    ["permit2Authorization", "permitted", "witness", "from", "token", "amount", "spender", "nonce", "deadline", "to",
     "validAfter", "signature", "info", "eip2612GasSponsoring", "asset"]
)  # fmt: skip
near_objects = st.recursive(
    json_scalars | st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    lambda children: st.dictionaries(field_names, children, max_size=8),
    max_leaves=20,
)


@SETTINGS
@given(st.one_of(json_values, near_objects))
def test_decoders_give_a_value_or_a_payload_error(value) -> None:
    payload = value if isinstance(value, dict) else {"permit2Authorization": value}
    try:
        permit2.parse_payload(payload)
    except PayloadError:
        pass
    try:
        permit2.parse_eip2612(value)
    except PayloadError:
        pass


def test_gas_sponsoring_setting(tmp_path) -> None:
    env = {
        "X402FAC_EVM_84532_RPC_URLS": "http://127.0.0.1:1",
        "X402FAC_EVM_SIGNER_KEYS": "0x" + "11" * 32,
    }
    assert load_config(env).networks[0].gas_sponsoring == frozenset()
    both = "eip2612GasSponsoring,erc20ApprovalGasSponsoring"
    enabled = load_config({**env, "X402FAC_EVM_84532_GAS_SPONSORING": both}).networks[0]
    assert enabled.gas_sponsoring == frozenset({"eip2612GasSponsoring", "erc20ApprovalGasSponsoring"})
    with pytest.raises(SettingsError, match="X402FAC_EVM_84532_GAS_SPONSORING: 'gasless'"):
        load_config({**env, "X402FAC_EVM_84532_GAS_SPONSORING": "gasless"})


def test_signed_approval_is_decoded_and_its_signer_recovered() -> None:
    account = Account.create()
    data = "0x095ea7b3" + "00" * 12 + sdk.PERMIT2_ADDRESS[2:].lower() + "ff" * 32
    tx = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": 7,
        "to": TOKEN,
        "value": 0,
        "data": data,
        "gas": 70_000,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**8,
    }
    signed = account.sign_transaction(tx)
    decoded = decode_signed(bytes(signed.raw_transaction))
    assert decoded.sender == account.address
    assert decoded.hash == "0x" + bytes(signed.hash).hex()
    assert (decoded.transaction.nonce, decoded.transaction.gas, decoded.transaction.to) == (7, 70_000, TOKEN)
    assert permit2.approve_arguments(decoded.transaction.data) == (sdk.PERMIT2_ADDRESS, 2**256 - 1)
    assert permit2.approve_arguments(bytes.fromhex(data[2:])[:67]) is None
    for garbage in (
        b"",
        b"\x02",
        b"\x02\xc0",
        b"\x01" + bytes(signed.raw_transaction)[1:],
        bytes(signed.raw_transaction) + b"\x00",
    ):
        with pytest.raises(ValueError):
            decode_signed(garbage)


@SETTINGS
@given(st.binary(max_size=200))
def test_decode_signed_gives_a_transaction_or_a_value_error(raw: bytes) -> None:
    try:
        decode_signed(b"\x02" + raw)
    except ValueError:
        pass


def test_erc20_approval_extension_is_parsed_or_refused() -> None:
    info = {
        "from": TOKEN,
        "asset": TOKEN,
        "spender": sdk.PERMIT2_ADDRESS,
        "amount": "1",
        "signedTransaction": "0x02c0",
    }
    approval = permit2.parse_erc20_approval({"erc20ApprovalGasSponsoring": {"info": info}})
    assert approval is not None and approval.raw == b"\x02\xc0" and approval.spender == sdk.PERMIT2_ADDRESS
    assert permit2.parse_erc20_approval({}) is None
    with pytest.raises(PayloadError, match="signedTransaction is missing"):
        missing = {k: v for k, v in info.items() if k != "signedTransaction"}
        permit2.parse_erc20_approval({"erc20ApprovalGasSponsoring": {"info": missing}})
