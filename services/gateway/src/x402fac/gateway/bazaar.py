"""The `bazaar` extension of a payment, checked against the Bazaar's rules before the payment is
forwarded: the info's `input` shape, method, body type, MCP tool fields, sizes; a `schema` may not
reference anything outside itself; the info, its output example included, must match the `schema` it
carries (a documented subset of JSON Schema: bazaar_schema). What a valid extension lists is a
`CatalogEntry`; `InvalidDiscovery` says why an invalid one lists nothing.
"""

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from x402fac.protocol import VerifyRequest
from x402fac.protocol.ledger import CatalogEntry

from .bazaar_schema import SchemaMismatch, check_against_schema

BAZAAR = "bazaar"
MAX_BAZAAR_BYTES = 8 * 1024
MAX_URL = 2048
MAX_DESCRIPTION = 1000
QUERY_METHODS = frozenset({"GET", "HEAD", "DELETE"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
BODY_TYPES = frozenset({"json", "form-data", "text"})
MCP_TRANSPORTS = frozenset({"streamable-http", "sse"})
_ROUTE_TEMPLATE = re.compile(r"^/[a-zA-Z0-9_/:.\-~]+$")


class InvalidDiscovery(ValueError):
    """The `bazaar` extension or the resource it describes cannot be listed (the message says why)."""


def _external_reference(node: Any) -> bool:
    """A `$ref`/`$id` that is not a fragment of the document itself (a schema must not fetch)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$id") and not (isinstance(value, str) and value.startswith("#")):
                return True
            if _external_reference(value):
                return True
    elif isinstance(node, list):
        return any(_external_reference(item) for item in node)
    return False


def normalize_url(url: str) -> str:
    """An absolute http(s) URL without query or fragment (how the catalog names a resource)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isprintable() or " " in url:
        raise InvalidDiscovery("resource.url must be an absolute http(s) URL of at most 2048 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidDiscovery("resource.url must be an absolute http(s) URL")
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", "", ""))


def _check_info(info: Any) -> tuple[str, str]:
    """(type, method) of valid bazaar info; raises InvalidDiscovery."""
    if not isinstance(info, dict) or not isinstance(info.get("input"), dict):
        raise InvalidDiscovery("bazaar.info.input must be an object")
    given = info["input"]
    kind = given.get("type")
    if kind == "http":
        method = given.get("method")
        if method not in QUERY_METHODS | BODY_METHODS:
            raise InvalidDiscovery(
                f"bazaar.info.input.method must be one of {sorted(QUERY_METHODS | BODY_METHODS)}"
            )
        if method in BODY_METHODS and given.get("bodyType", "json") not in BODY_TYPES:
            raise InvalidDiscovery(f"bazaar.info.input.bodyType must be one of {sorted(BODY_TYPES)}")
        for name in ("queryParams", "pathParams", "headers"):
            if given.get(name) is not None and not isinstance(given[name], dict):
                raise InvalidDiscovery(f"bazaar.info.input.{name} must be an object")
        return "http", method
    if kind == "mcp":
        tool = given.get("toolName")
        if not isinstance(tool, str) or not 0 < len(tool) <= 128:
            raise InvalidDiscovery("bazaar.info.input.toolName must be a string of 1-128 characters")
        if not isinstance(given.get("inputSchema"), dict):
            raise InvalidDiscovery("bazaar.info.input.inputSchema must be an object")
        if given.get("transport") is not None and given["transport"] not in MCP_TRANSPORTS:
            raise InvalidDiscovery(f"bazaar.info.input.transport must be one of {sorted(MCP_TRANSPORTS)}")
        return "mcp", ""
    raise InvalidDiscovery('bazaar.info.input.type must be "http" or "mcp"')


def bazaar_extension(request: VerifyRequest) -> dict | None:
    extensions = request.payment_payload.extensions
    return extensions.get(BAZAAR) if isinstance(extensions, dict) and BAZAAR in extensions else None


def catalog_entry(request: VerifyRequest) -> CatalogEntry | None:
    """What a settle of `request` would list: None without the bazaar extension; raises
    InvalidDiscovery when it carries one that cannot be listed."""
    extension = bazaar_extension(request)
    if extension is None:
        return None
    if not isinstance(extension, dict):
        raise InvalidDiscovery("extensions.bazaar must be an object with info and schema")
    if len(msgspec.json.encode(extension)) > MAX_BAZAAR_BYTES:
        raise InvalidDiscovery(f"extensions.bazaar is larger than {MAX_BAZAAR_BYTES} bytes")
    schema = extension.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise InvalidDiscovery("bazaar.schema must be a JSON Schema object")
    if _external_reference(schema):
        raise InvalidDiscovery("bazaar.schema must not contain external $ref/$id references")
    kind, method = _check_info(extension.get("info"))
    if schema is not None:
        try:
            check_against_schema(extension["info"], schema)
        except SchemaMismatch as mismatch:
            raise InvalidDiscovery(f"bazaar.info does not match bazaar.schema: {mismatch}") from None
    resource = request.payment_payload.resource
    if resource is None:
        raise InvalidDiscovery("paymentPayload.resource.url is required to list a resource")
    url = normalize_url(resource.url)
    template = extension.get("routeTemplate")
    if template is not None:
        if not isinstance(template, str) or not _ROUTE_TEMPLATE.match(template) or ".." in template:
            raise InvalidDiscovery("bazaar.routeTemplate must be a path like /users/:id")
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc, template, "", ""))
    requirements = request.payment_requirements
    return CatalogEntry(
        resource=url,
        pay_to=requirements.pay_to,
        accepts=[requirements],
        type=kind,
        x402_version=2,
        description=(resource.description or "")[:MAX_DESCRIPTION],
        mime_type=(resource.mime_type or "")[:100],
        method=method,
        bazaar={k: extension[k] for k in ("info", "schema", "routeTemplate") if k in extension},
        settlements=1,
    )
