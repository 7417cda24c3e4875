"""The bazaar info checked against the JSON Schema it carries (`extensions.bazaar.schema` describes
`extensions.bazaar.info`, its output example included), without a JSON Schema library.

A documented subset of JSON Schema (draft 2020-12 / draft-07), the keywords the Bazaar's own
declarations use and the ones that matter for an example: `type` (one or a list; `integer` is a
number with no fraction, a boolean is never a number), `enum`, `const`, `properties`, `required`,
`additionalProperties` (boolean or schema), `items` (schema, or draft-07's list), `prefixItems`,
`minLength`/`maxLength`, `minimum`/`maximum`, `minItems`/`maxItems`, boolean schemas, and `$ref` to
a JSON pointer inside the same document (`#`, `#/$defs/x`; nothing is ever fetched). Any other
keyword (`pattern`, `format`, `oneOf`/`anyOf`/`allOf`, `not`, `if`, plain-name anchors, ...) is not
checked: info this subset accepts may still fail a full validator on those, never the reverse.
Work is bounded (depth and steps), so a cyclic or huge schema is refused, not followed.
"""

from typing import Any
from urllib.parse import unquote

MAX_DEPTH = 64
MAX_STEPS = 20_000
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
}


class SchemaMismatch(ValueError):
    """The instance does not match the schema (the message names where and why)."""


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if _TYPES["number"](a) and _TYPES["number"](b):
        return a == b
    return type(a) is type(b) and a == b


class _Validator:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.steps = 0

    def resolve(self, ref: str) -> Any:
        node = self.root
        for part in ref[2:].split("/") if ref != "#" else []:
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SchemaMismatch(f"schema $ref {ref!r} does not resolve in the schema")
        return node

    def check(self, value: Any, schema: Any, path: str, depth: int) -> None:
        self.steps += 1
        if depth > MAX_DEPTH or self.steps > MAX_STEPS:
            raise SchemaMismatch("schema is too deep or too large to check")
        if schema is True or schema == {}:
            return
        if schema is False:
            raise SchemaMismatch(f"{path}: not allowed by the schema")
        if not isinstance(schema, dict):
            raise SchemaMismatch(f"{path}: the schema there is not an object")
        ref = schema.get("$ref")
        if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
            self.check(value, self.resolve(ref), path, depth + 1)
        self._type(value, schema, path)
        if "enum" in schema and isinstance(schema["enum"], list):
            if not any(_equal(value, option) for option in schema["enum"]):
                raise SchemaMismatch(f"{path}: {value!r} is not one of {schema['enum']!r}")
        if "const" in schema and not _equal(value, schema["const"]):
            raise SchemaMismatch(f"{path}: {value!r} is not {schema['const']!r}")
        self._bounds(value, schema, path)
        if isinstance(value, dict):
            self._object(value, schema, path, depth)
        elif isinstance(value, list):
            self._array(value, schema, path, depth)

    def _type(self, value: Any, schema: dict, path: str) -> None:
        wanted = schema.get("type")
        names = wanted if isinstance(wanted, list) else [wanted] if isinstance(wanted, str) else []
        known = [name for name in names if name in _TYPES]
        if known and not any(_TYPES[name](value) for name in known):
            raise SchemaMismatch(f"{path}: {_kind(value)} is not of type {wanted!r}")

    def _bounds(self, value: Any, schema: dict, path: str) -> None:
        if isinstance(value, str):
            measure, names, what = len(value), ("minLength", "maxLength"), f"length {len(value)}"
        elif isinstance(value, list):
            measure, names, what = len(value), ("minItems", "maxItems"), f"{len(value)} items"
        elif _TYPES["number"](value):
            measure, names, what = value, ("minimum", "maximum"), repr(value)
        else:
            return
        low, high = (schema.get(name) for name in names)
        if (_TYPES["number"](low) and measure < low) or (_TYPES["number"](high) and measure > high):
            raise SchemaMismatch(f"{path}: {what} is outside the schema's bounds")

    def _object(self, value: dict, schema: dict, path: str, depth: int) -> None:
        required = schema.get("required")
        for name in required if isinstance(required, list) else []:
            if isinstance(name, str) and name not in value:
                raise SchemaMismatch(f"{path}: {name!r} is required")
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                self.check(item, properties[name], f"{path}/{name}", depth + 1)
            elif extra is False:
                raise SchemaMismatch(f"{path}: additional property {name!r} is not allowed")
            elif isinstance(extra, dict):
                self.check(item, extra, f"{path}/{name}", depth + 1)

    def _array(self, value: list, schema: dict, path: str, depth: int) -> None:
        items, prefix = schema.get("items"), schema.get("prefixItems")
        positional = prefix if isinstance(prefix, list) else items if isinstance(items, list) else []
        rest = items if isinstance(items, dict | bool) else True
        for i, item in enumerate(value):
            self.check(item, positional[i] if i < len(positional) else rest, f"{path}/{i}", depth + 1)


def _kind(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__


def check_against_schema(instance: Any, schema: Any) -> None:
    """Raise SchemaMismatch when `instance` does not match `schema` (the subset above)."""
    try:
        _Validator(schema).check(instance, schema, "info", 0)
    except RecursionError:
        raise SchemaMismatch("schema or info is nested too deeply to check") from None
