"""The discovery catalog through the real stack: only settled payments list a resource (with valid
bazaar info), the OpenX402 and Bazaar shapes, search, stable pages and right totals under concurrent
inserts, per-payTo and size caps, and invalid info refused without blocking the payment."""

import asyncio
import uuid

import httpx

from tests.fixtures.product import start_configured_gateway
from tests.integration.foundation.conftest import TEST_NETWORK, payment
from x402fac.gateway.config import GatewayConfig
from x402fac.protocol.ledger import DISCOVERY_BUCKET, PAYMENT_ID_BUCKET

from .test_keys import ADMIN

BAZAAR_INFO = {
    "info": {
        "input": {"type": "http", "method": "GET", "queryParams": {"city": "Paris"}},
        "output": {"type": "json", "example": {"temperature": 21}},
    },
    "schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
}


LISTING_AMOUNT = GatewayConfig().discovery_min_amount_evm  # the least that lists (the test network is EVM)


def listing(
    pay_to: str,
    url: str,
    description: str = "Weather API",
    bazaar: dict | None = None,
    payer: str = "",
    amount: int = LISTING_AMOUNT,
) -> dict:
    body = payment(uuid.uuid4().hex, payer=payer or "payer-" + uuid.uuid4().hex, amount=str(amount))
    body["paymentRequirements"]["payTo"] = pay_to
    body["paymentPayload"]["accepted"]["payTo"] = pay_to
    body["paymentPayload"]["resource"] = {
        "url": url,
        "description": description,
        "mimeType": "application/json",
    }
    body["paymentPayload"]["extensions"] = {"bazaar": BAZAAR_INFO if bazaar is None else bazaar}
    return body


async def listed(http: httpx.AsyncClient, pay_to: str, path: str = "/discovery/resources", **params) -> dict:
    answer = await http.get(path, params={"payTo": pay_to, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_settled_payment_lists_its_resource_in_the_seed_shape(product_stack):
    stack, _ = product_stack
    pay_to = "payee-" + uuid.uuid4().hex
    url = f"https://api.example.com/weather/{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        settled = (await http.post("/settle", json=listing(pay_to, url + "?city=Paris#x"))).json()
        page = await listed(http, pay_to)
        alias = await listed(http, pay_to, "/list")
        under_facilitator = await listed(http, pay_to, "/facilitator/discovery/resources")
    assert settled["success"] is True
    assert settled["extensions"]["bazaar"] == {"status": "listed", "resource": url}
    assert page == alias == under_facilitator
    assert page["x402Version"] == 2
    assert page["pagination"] == {"limit": 100, "offset": 0, "total": 1}
    [item] = page["items"]
    assert item["resource"] == url  # query and fragment are not part of the name
    assert item["type"] == "http" and item["x402Version"] == 2
    assert item["accepts"][0]["payTo"] == pay_to and item["accepts"][0]["network"] == TEST_NETWORK
    assert item["lastUpdated"].endswith("Z")
    assert item["metadata"]["method"] == "GET" and item["metadata"]["settlements"] == 1
    assert item["description"] == "Weather API" and item["mimeType"] == "application/json"
    assert item["extensions"]["bazaar"]["info"] == BAZAAR_INFO["info"]


async def test_search_by_description_and_by_url(product_stack):
    stack, _ = product_stack
    pay_to = "payee-" + uuid.uuid4().hex
    word = "zebra" + uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        await http.post(
            "/settle", json=listing(pay_to, "https://a.example.com/forecast", f"Daily {word} facts")
        )
        await http.post("/settle", json=listing(pay_to, f"https://b.example.com/{word}-prices", "Prices"))
        await http.post("/settle", json=listing(pay_to, "https://c.example.com/other", "Unrelated"))
        by_description = (
            await http.get("/discovery/search", params={"query": f"{word.upper()} daily"})
        ).json()
        by_url = (await http.get("/discovery/search", params={"query": "prices", "payTo": pay_to})).json()
        both = (await http.get("/discovery/search", params={"query": word})).json()
        missing = await http.get("/discovery/search")
    assert [r["resource"] for r in by_description["resources"]] == ["https://a.example.com/forecast"]
    assert [r["resource"] for r in by_url["resources"]] == [f"https://b.example.com/{word}-prices"]
    assert both["pagination"]["total"] == 2 and both["partialResults"] is False
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


async def test_invalid_bazaar_info_is_refused_with_a_reason_and_the_payment_still_settles(product_stack):
    stack, _ = product_stack
    pay_to = "payee-" + uuid.uuid4().hex
    bad_method = {"info": {"input": {"type": "http", "method": "FETCH"}}, "schema": {}}
    fetching_schema = {"info": BAZAAR_INFO["info"], "schema": {"$ref": "https://evil.example/schema.json"}}
    example_schema = {"properties": {"output": {"properties": {"example": {"required": ["humidity"]}}}}}
    off_schema = {"info": BAZAAR_INFO["info"], "schema": example_schema}  # the example lacks humidity
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        first = (
            await http.post("/settle", json=listing(pay_to, "https://x.example.com/a", bazaar=bad_method))
        ).json()
        second = (
            await http.post(
                "/settle", json=listing(pay_to, "https://x.example.com/b", bazaar=fetching_schema)
            )
        ).json()
        relative = (await http.post("/settle", json=listing(pay_to, "/relative/path"))).json()
        third = (
            await http.post("/settle", json=listing(pay_to, "https://x.example.com/c", bazaar=off_schema))
        ).json()
        page = await listed(http, pay_to)
    for answer in (first, second, relative, third):
        assert answer["success"] is True  # the payment is not blocked
        assert answer["extensions"]["bazaar"]["status"] == "refused"
        assert answer["extensions"]["bazaar"]["reason"] == "invalid_discovery_info"
    assert "method" in first["extensions"]["bazaar"]["message"]
    assert "$ref" in second["extensions"]["bazaar"]["message"]
    assert "info/output/example: 'humidity' is required" in third["extensions"]["bazaar"]["message"]
    assert page["pagination"]["total"] == 0 and page["items"] == []


async def test_a_stranger_cannot_list_without_a_settled_payment(product_stack):
    stack, _ = product_stack
    pay_to = "payee-" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        verified = (await http.post("/verify", json=listing(pay_to, "https://v.example.com/x"))).json()
        forged = listing(pay_to, "https://f.example.com/x")
        forged["paymentPayload"]["payload"]["forged"] = True
        refused = (await http.post("/settle", json=forged)).json()
        unpaid = listing(pay_to, "https://u.example.com/x")
        unpaid["paymentPayload"]["payload"]["valid"] = False
        failed = (await http.post("/settle", json=unpaid)).json()
        stranger = await http.post(
            "/admin/discovery",
            json={"resource": "https://s.example.com", "accepts": [forged["paymentRequirements"]]},
        )
        page = await listed(http, pay_to)
    assert verified["isValid"] is True
    assert refused["success"] is False and "extensions" not in refused
    assert failed["success"] is False
    assert stranger.status_code == 401
    assert page["pagination"]["total"] == 0


async def test_one_receiver_has_at_most_its_cap_of_resources(product_stack):
    stack, _ = product_stack
    pay_to = "payee-" + uuid.uuid4().hex
    catalog = stack.ledger.catalog
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        answers = [
            (await http.post("/settle", json=listing(pay_to, f"https://cap.example.com/{i}"))).json()
            for i in range(catalog.per_pay_to + 1)
        ]
        again = (await http.post("/settle", json=listing(pay_to, "https://cap.example.com/0"))).json()
        page = await listed(http, pay_to, limit=1000)
    assert all(a["success"] for a in answers)
    assert [a["extensions"]["bazaar"]["status"] for a in answers].count("listed") == catalog.per_pay_to
    assert answers[-1]["extensions"]["bazaar"]["reason"] == "pay_to_full"
    assert again["extensions"]["bazaar"]["status"] == "listed"  # an entry it has is refreshed
    assert page["pagination"]["total"] == catalog.per_pay_to
    [refreshed] = [i for i in page["items"] if i["resource"] == "https://cap.example.com/0"]
    assert refreshed["metadata"]["settlements"] == 2


async def test_pages_are_stable_and_totals_right_under_concurrent_inserts(product_stack):
    stack, _ = product_stack
    pay_to = "payee-" + uuid.uuid4().hex
    requirements = payment("x")["paymentRequirements"] | {"payTo": pay_to}
    urls = [f"https://page.example.com/{i:02d}" for i in range(30)]

    gateways = [stack.gateway_url, stack.gateways[0].url]
    async with httpx.AsyncClient(timeout=30) as http:
        first = [await register_via(http, gateways[0], url, requirements) for url in urls[:10]]
        assert all(first)

        acknowledged = 10

        async def insert(url: str, base: str) -> None:
            nonlocal acknowledged
            await register_via(http, base, url, requirements)
            acknowledged += 1
            seen = acknowledged
            page = (
                await http.get(base + "/discovery/resources", params={"payTo": pay_to, "limit": 1000})
            ).json()
            assert url in [i["resource"] for i in page["items"]]  # read your own insert, on any replica
            assert page["pagination"]["total"] >= seen

        async def read_pages() -> list[list[str]]:
            pages = []
            for round_ in range(6):
                base = gateways[round_ % 2]
                head = []
                for offset in (0, 5):
                    page = (
                        await http.get(
                            base + "/discovery/resources",
                            params={"payTo": pay_to, "limit": 5, "offset": offset},
                        )
                    ).json()
                    head.extend(i["resource"] for i in page["items"])
                pages.append(head)
            return pages

        reads, *_ = await asyncio.gather(
            read_pages(), *(insert(url, gateways[i % 2]) for i, url in enumerate(urls[10:]))
        )
        final = [
            (await http.get(base + "/discovery/resources", params={"payTo": pay_to, "limit": 1000})).json()
            for base in gateways
        ]
    assert all(head == urls[:10] for head in reads)  # the first pages never moved
    for page in final:
        assert page["pagination"]["total"] == 30
        assert [i["resource"] for i in page["items"]][:10] == urls[:10]
        assert sorted(i["resource"] for i in page["items"]) == urls


async def register_via(http: httpx.AsyncClient, base: str, url: str, requirements: dict) -> bool:
    answer = await http.post(
        base + "/admin/discovery", json={"resource": url, "accepts": [requirements]}, headers=ADMIN
    )
    assert answer.status_code == 201, answer.text
    return True


async def test_catalog_filters_paging_and_bad_parameters(product_stack):
    stack, _ = product_stack
    pay_to = "payee-" + uuid.uuid4().hex
    requirements = payment("x")["paymentRequirements"] | {"payTo": pay_to}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        for i in range(3):
            await register_via(http, "", f"https://filters.example.com/{i}", requirements)
        mcp = {"resource": "https://filters.example.com/mcp", "accepts": [requirements], "type": "mcp"}
        assert (await http.post("/admin/discovery", json=mcp, headers=ADMIN)).status_code == 201
        only_mcp = await listed(http, pay_to, type="mcp")
        other_network = await listed(http, pay_to, network="eip155:1")
        second_page = await listed(http, pay_to, limit=2, offset=2)
        bad = [
            await http.get("/discovery/resources", params={"limit": "ten"}),
            await http.get("/discovery/resources", params={"limit": "100000"}),
            await http.get("/discovery/resources", params={"offset": "-1"}),
        ]
        removed = await http.delete(
            "/admin/discovery", params={"resource": "https://filters.example.com/mcp"}, headers=ADMIN
        )
        after = await listed(http, pay_to)
    assert [i["resource"] for i in only_mcp["items"]] == ["https://filters.example.com/mcp"]
    assert other_network["pagination"]["total"] == 0
    assert second_page["pagination"] == {"limit": 2, "offset": 2, "total": 4}
    assert [i["resource"] for i in second_page["items"]] == [
        "https://filters.example.com/2",
        "https://filters.example.com/mcp",
    ]
    assert [b.status_code for b in bad] == [400, 400, 400]
    assert all(b.json()["error"] == "invalid_request" for b in bad)
    assert removed.status_code == 200 and after["pagination"]["total"] == 3


async def test_supported_and_metadata_announce_the_extensions(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        supported = (await http.get("/supported")).json()
        index = (await http.get("/")).json()
    assert {"bazaar", "payment-identifier"} <= set(supported["extensions"])
    assert index["endpoints"]["discovery"] == "/discovery/resources"
    assert index["endpoints"]["list"] == "/list"


async def test_catalog_and_identifier_stores_are_bounded(product_stack):
    stack, _ = product_stack
    js = stack.nc.jetstream()
    for bucket in (DISCOVERY_BUCKET, PAYMENT_ID_BUCKET):
        config = (await js.stream_info(f"KV_{bucket}")).config
        assert config.max_age and config.max_age > 0, bucket
        assert config.max_bytes and config.max_bytes > 0, bucket


async def test_cheap_and_self_paid_settles_list_nothing(product_stack):
    """A listing costs a real payment: one atomic unit, or a payTo paying itself, settles (the payment
    is not blocked) but lists nothing; the minimum is per asset when configured."""
    stack, _ = product_stack
    pay_to = "payee-" + uuid.uuid4().hex
    url = f"https://api.example.com/famous/{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        one_unit = (await http.post("/settle", json=listing(pay_to, url, amount=1))).json()
        just_under = (await http.post("/settle", json=listing(pay_to, url, amount=LISTING_AMOUNT - 1))).json()
        to_itself = (await http.post("/settle", json=listing(pay_to, url, payer=pay_to.upper()))).json()
        nothing = await listed(http, pay_to)
        enough = (await http.post("/settle", json=listing(pay_to, url))).json()
        then = await listed(http, pay_to)
    assert one_unit["success"] is just_under["success"] is to_itself["success"] is True
    assert one_unit["extensions"]["bazaar"]["reason"] == "amount_below_listing_minimum"
    assert just_under["extensions"]["bazaar"]["reason"] == "amount_below_listing_minimum"
    assert to_itself["extensions"]["bazaar"]["reason"] == "self_payment"
    assert nothing["pagination"]["total"] == 0
    assert enough["extensions"]["bazaar"]["status"] == "listed" and then["pagination"]["total"] == 1
    gateway = await start_configured_gateway(stack.nats, discovery_min_amounts=("TEST=5000000",))
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            other = "payee-" + uuid.uuid4().hex
            asset_minimum = (await http.post("/settle", json=listing(other, url))).json()
    finally:
        await gateway.stop()
    assert asset_minimum["extensions"]["bazaar"]["reason"] == "amount_below_listing_minimum"
