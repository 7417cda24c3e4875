"""Which bazaar extensions and resources the catalog accepts (pure: no stack)."""

import msgspec
import pytest

from tests.fixtures.product import bazaar_settle
from x402fac.gateway.bazaar import InvalidDiscovery, catalog_entry, normalize_url
from x402fac.ledger.discovery import matches, merge_accepts
from x402fac.protocol import PaymentRequirements
from x402fac.protocol.ledger import DiscoveryListRequest

HTTP_INFO = {"input": {"type": "http", "method": "POST", "bodyType": "json", "body": {"q": "x"}}}
MCP_INFO = {"input": {"type": "mcp", "toolName": "weather", "inputSchema": {"type": "object"}}}


def test_valid_http_and_mcp_info_make_an_entry():
    http = catalog_entry(
        bazaar_settle({"info": HTTP_INFO, "schema": {"$defs": {"a": {}}, "$ref": "#/$defs/a"}})
    )
    mcp = catalog_entry(bazaar_settle({"info": MCP_INFO}))
    templated = catalog_entry(bazaar_settle({"info": HTTP_INFO, "routeTemplate": "/v1/weather/:city"}))
    assert (http.resource, http.type, http.method, http.pay_to) == (
        "https://api.example.com/v1/weather",
        "http",
        "POST",
        "bob",
    )
    assert (mcp.type, mcp.method) == ("mcp", "")
    assert templated.resource == "https://api.example.com/v1/weather/:city"


@pytest.mark.parametrize(
    "bazaar",
    [
        "not an object",
        {"info": {}},
        {"info": {"input": {"type": "grpc"}}},
        {"info": {"input": {"type": "http"}}},
        {"info": {"input": {"type": "http", "method": "POST", "bodyType": "xml"}}},
        {"info": {"input": {"type": "mcp", "toolName": "", "inputSchema": {}}}},
        {"info": {"input": {"type": "mcp", "toolName": "t", "inputSchema": {}, "transport": "ws"}}},
        {"info": HTTP_INFO, "schema": {"$ref": "file:///etc/passwd"}},
        {"info": HTTP_INFO, "schema": {"properties": {"a": {"$id": "https://x"}}}},
        {"info": HTTP_INFO, "routeTemplate": "/../admin"},
        {"info": HTTP_INFO, "padding": "x" * 9000},
    ],
)
def test_malformed_info_is_refused(bazaar):
    with pytest.raises(InvalidDiscovery):
        catalog_entry(bazaar_settle(bazaar))


@pytest.mark.parametrize(
    "url", ["/relative", "ftp://x.example.com/a", "https://", "https://a b.example.com/", "x" * 3000]
)
def test_only_absolute_http_urls_are_listed(url):
    with pytest.raises(InvalidDiscovery):
        normalize_url(url)


def test_filters_and_accepts_merge():
    entry = catalog_entry(bazaar_settle({"info": HTTP_INFO}))
    assert matches(entry, DiscoveryListRequest(query="WEATHER now", network="eip155:1", pay_to="BOB"))
    assert not matches(entry, DiscoveryListRequest(query="weather rain"))
    assert not matches(entry, DiscoveryListRequest(type="mcp"))
    newer = msgspec.structs.replace(entry.accepts[0], amount="20")
    other = PaymentRequirements(scheme="exact", network="eip155:8453", amount="5", pay_to="bob", asset="T")
    merged = merge_accepts([entry.accepts[0], other], [newer])
    assert [(a.network, a.amount) for a in merged] == [("eip155:1", "20"), ("eip155:8453", "5")]
