"""The served OpenAPI document covers the dashboard, admin and discovery routes completely: who may
call them (security schemes, 401), their bodies and query parameters, and OPTIONS answers `Allow`
with exactly the documented methods, also on paths served by several handlers (GET and POST
/admin/keys: Litestar's automatic OPTIONS there listed only the first handler's methods)."""

import json

from litestar.serialization import encode_json
from litestar.testing import AsyncTestClient

from x402fac.gateway.app import create_app
from x402fac.gateway.config import GatewayConfig

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def document() -> dict:
    return json.loads(encode_json(create_app(GatewayConfig()).openapi_schema.to_schema()))


def test_admin_and_key_routes_document_their_credentials_and_401():
    paths = document()["paths"]
    guarded = {
        (method, path): operation
        for path, item in paths.items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        and (path.startswith("/admin/") or path in ("/dashboard/api/me", "/dashboard/api/usage"))
    }
    assert len(guarded) == 11
    for (method, path), operation in guarded.items():
        assert "401" in operation["responses"] and "503" in operation["responses"], (method, path)
        assert operation["security"], (method, path)
    for path in ("/admin/keys", "/admin/whitelist", "/admin/discovery", "/dashboard/api/keys"):
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["type"] == "object" and body["properties"], path
    search = {p["name"]: p for p in paths["/discovery/search"]["get"]["parameters"]}
    assert search["query"]["required"] is True and search["limit"]["schema"]["maximum"] == 1000


async def test_options_allows_exactly_the_documented_methods():
    client = AsyncTestClient(create_app(GatewayConfig()))  # no lifespan: routing only, no NATS
    paths = document()["paths"]
    for path in ("/admin/keys", "/admin/whitelist", "/admin/discovery", "/verify", "/dashboard/api/me"):
        answer = await client.options(path)
        documented = {m.upper() for m in paths[path] if m in HTTP_METHODS}
        assert answer.status_code == 204
        assert set(answer.headers["allow"].split(", ")) == documented | {"OPTIONS"}, path
    refused = await client.put("/admin/keys")
    assert refused.status_code == 405 and set(refused.headers["allow"].split(", ")) == {
        "GET",
        "POST",
        "OPTIONS",
    }
