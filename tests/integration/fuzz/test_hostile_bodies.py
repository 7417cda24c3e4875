"""Regressions from the fuzzers, through the real stack: each was a 500, or a body accepted or refused
against the contract. Business outcomes stay HTTP 200 with a reason; malformed bodies a 400 JSON error."""

from typing import Any

import httpx
import msgspec
import pytest
from eth_account import Account

from tests.fixtures.evm import payment_request, serve_evm


def _nano_body(**requirement_changes: Any) -> dict[str, Any]:
    requirements = {
        "scheme": "exact",
        "network": "nano:devnet",
        "amount": "1",
        "payTo": "nano_1111111111111111111111111111111111111111111111111111hifc8npp",
        **requirement_changes,
    }
    return {
        "x402Version": 2,
        "paymentPayload": {"x402Version": 2, "accepted": dict(requirements), "payload": {}},
        "paymentRequirements": requirements,
    }


@pytest.mark.parametrize("path", ["/verify", "/settle"])
async def test_an_evm_address_with_a_trailing_newline_is_invalid_payload_not_a_500(
    stack: Any, evm_devnet: dict, path: str
) -> None:
    request = payment_request(
        evm_devnet, Account.create(), "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", 1000
    )
    body = msgspec.to_builtins(request)
    body["paymentPayload"]["payload"]["authorization"]["from"] += "\n"
    async with (
        serve_evm(stack, evm_devnet),
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http,
    ):
        response = await http.post(path, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.get("isValid", answer.get("success")) is False
    assert answer.get("invalidReason", answer.get("errorReason")) == "invalid_payload"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (_nano_body(amount="12\n"), 400),  # Python's `$` let the newline through
        (_nano_body(maxTimeoutSeconds=60.5), 400),
        ({**_nano_body(), "x402Version": 0}, 400),  # was read as "absent" and decoded as v2
        (_nano_body(maxTimeoutSeconds=60.0), 200),  # JSON Schema's integer 60; was a 400
    ],
)
async def test_the_decoder_follows_the_schema(stack: Any, nano_worker: Any, body: dict, status: int) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        response = await http.post("/verify", json=body)
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["error"] == "invalid_request"
    else:
        assert response.json()["isValid"] is False  # an empty payload: refused by the Nano worker
