"""`upto` without a chain: the SDK client's payload decodes, its signature recovers to the payer over
our digest (the upto witness names the facilitator), the proxy call carries the charged amount, and
the binding of a settle to its payment lets the amount differ only for a scheme that settles up to."""

import dataclasses

import msgspec
import pytest
from eth_abi import decode
from eth_account import Account
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.mechanisms.evm.upto import UptoEvmClientScheme
from x402.schemas import PaymentRequirements

from x402fac.protocol import VerifyRequest
from x402fac.worker import Invalid, check_binding
from x402fac.worker_evm import eip3009, permit2
from x402fac.worker_evm.eip3009 import PayloadError

USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
FACILITATOR = "0x5CeD57A7F8864454EAbc7BA7E98282919ac4565D"


def requirements(amount: int = 50_000) -> dict:
    return {
        "scheme": "upto",
        "network": "eip155:84532",
        "amount": str(amount),
        "asset": USDC,
        "payTo": "0x000000000000000000000000000000000000dEaD",
        "maxTimeoutSeconds": 60,
        "extra": {"assetTransferMethod": "permit2", "facilitatorAddress": FACILITATOR},
    }


def sdk_payload(payer) -> dict:
    return UptoEvmClientScheme(EthAccountSigner(payer)).create_payment_payload(
        PaymentRequirements.model_validate(requirements())
    )


def test_the_sdk_signature_recovers_to_the_payer_over_our_digest() -> None:
    payer = Account.create()
    auth, signature = permit2.parse_payload(sdk_payload(payer), upto=True)
    assert (auth.owner, auth.facilitator, auth.spender) == (
        payer.address,
        FACILITATOR,
        permit2.UPTO_PROXY_ADDRESS,
    )
    assert eip3009.recover_signer(permit2.digest(auth, 84532), signature) == payer.address
    # Without the facilitator in the witness (the exact type), the digest is another one.
    exact = dataclasses.replace(auth, facilitator=None)
    assert eip3009.recover_signer(permit2.digest(exact, 84532), signature) != payer.address


def test_an_upto_payload_names_its_facilitator() -> None:
    payload = sdk_payload(Account.create())
    del payload["permit2Authorization"]["witness"]["facilitator"]
    with pytest.raises(PayloadError, match=r"witness\.facilitator is missing"):
        permit2.parse_payload(payload, upto=True)


def test_the_proxy_call_carries_the_charged_amount() -> None:
    auth, signature = permit2.parse_payload(sdk_payload(Account.create()), upto=True)
    data = permit2.upto_settle_calldata(auth, signature, 12_345, None)
    permit, amount, owner, witness, sig = decode(
        ["((address,uint256),uint256,uint256)", "uint256", "address", "(address,address,uint256)", "bytes"],
        data[4:],
    )
    assert (permit[0][1], amount, sig) == (50_000, 12_345, signature)
    assert (owner.lower(), witness[1].lower()) == (auth.owner.lower(), FACILITATOR.lower())


def test_binding_lets_only_an_up_to_scheme_charge_another_amount() -> None:
    accepted = requirements(50_000)
    body = {"x402Version": 2, "paymentPayload": {"x402Version": 2, "accepted": accepted, "payload": {}}}
    lower = msgspec.convert({**body, "paymentRequirements": requirements(1_000)}, VerifyRequest)
    check_binding(lower, amount_up_to=True)
    with pytest.raises(Invalid) as refused:
        check_binding(lower)
    assert refused.value.reason == "requirements_mismatch"
    other_payee = {**requirements(1_000), "payTo": "0x000000000000000000000000000000000000bEEF"}
    with pytest.raises(Invalid):
        check_binding(
            msgspec.convert({**body, "paymentRequirements": other_payee}, VerifyRequest), amount_up_to=True
        )
