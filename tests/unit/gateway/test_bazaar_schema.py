"""The bazaar info against the JSON Schema it carries (the gateway's subset validator, no library):
the official SDK's declarations pass, an example that breaks its schema is refused with where and
why, and on the keywords the subset covers it agrees with a full validator (jsonschema, when the
environment has it: it is not a dependency of the gateway)."""

import copy

import pytest
from x402.extensions.bazaar import OutputConfig, declare_discovery_extension

from tests.fixtures.product import bazaar_settle
from x402fac.gateway.bazaar import InvalidDiscovery, catalog_entry
from x402fac.gateway.bazaar_schema import SchemaMismatch, check_against_schema
from x402fac.protocol import VerifyRequest


def settle(bazaar: dict) -> VerifyRequest:
    return bazaar_settle(bazaar, "https://api.example.com/weather")


def official_get() -> dict:
    """What the official SDK declares for `GET /weather?city=`, with the method its server adds."""
    bazaar = declare_discovery_extension(
        input={"city": "Paris"},
        input_schema={"properties": {"city": {"type": "string"}}, "required": ["city"]},
        output=OutputConfig(
            example={"temperature": 21, "unit": "C"},
            schema={
                "properties": {"temperature": {"type": "number"}, "unit": {"enum": ["C", "F"]}},
                "required": ["temperature"],
            },
        ),
    )["bazaar"]
    bazaar["info"]["input"]["method"] = "GET"
    return bazaar


def official_post() -> dict:
    bazaar = declare_discovery_extension(
        input={"name": "Ada", "age": 36},
        input_schema={
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
            "required": ["name"],
        },
        body_type="json",
        output=OutputConfig(example={"id": "123", "tags": ["a", "b"]}),
    )["bazaar"]
    bazaar["info"]["input"]["method"] = "POST"
    return bazaar


def test_the_official_declarations_are_listed():
    for bazaar in (official_get(), official_post()):
        assert catalog_entry(settle(bazaar)).bazaar["info"] == bazaar["info"]


def broken(change) -> dict:
    bazaar = official_get()
    change(bazaar["info"])
    return bazaar


@pytest.mark.parametrize(
    ("bazaar", "where"),
    [
        (broken(lambda info: info["output"]["example"].update(temperature="warm")), "example/temperature"),
        (broken(lambda info: info["output"]["example"].update(unit="K")), "example/unit"),
        (broken(lambda info: info["output"]["example"].pop("temperature")), "'temperature' is required"),
        (broken(lambda info: info["input"]["queryParams"].update(city=7)), "queryParams/city"),
        (broken(lambda info: info["input"].update(sneaky=1)), "additional property 'sneaky'"),
        (broken(lambda info: info["input"]["queryParams"].pop("city")), "'city' is required"),
    ],
)
def test_info_that_breaks_its_own_schema_is_refused_saying_where(bazaar, where):
    with pytest.raises(InvalidDiscovery, match=r"does not match bazaar\.schema") as refused:
        catalog_entry(settle(bazaar))
    assert where in str(refused.value)


SCHEMAS = [
    {"type": "integer"},
    {"type": ["string", "null"]},
    {"type": "number", "minimum": 1, "maximum": 3},
    {"enum": [1, "a", None, [1], {"k": True}]},
    {"const": True},
    {"type": "string", "minLength": 2, "maxLength": 3},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
    {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "boolean"}},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "object"}}},
    {"type": "object", "additionalProperties": {"type": "string"}, "properties": {"n": {"type": "number"}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": True}},
    {"$defs": {"pos": {"type": "integer", "minimum": 0}}, "type": "array", "items": {"$ref": "#/$defs/pos"}},
    {
        "$defs": {"tree": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/tree"}}}}},
        "$ref": "#/$defs/tree",
    },
    False,
    True,
]
VALUES = [
    0, 1, 2, 2.0, 2.5, -1, True, False, None, "", "a", "ab", "abcd", [], [1], [1, 2, 3], ["x", True],
    ["x", "y"], {}, {"a": {}}, {"a": 1}, {"n": 1, "x": "s"}, {"n": "1"}, {"b": 1}, {"k": True}, {"k": 1},
    {"kids": [{"kids": []}]}, {"kids": [{"kids": 3}]},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_subset_agrees_with_a_full_validator(schema):
    jsonschema = pytest.importorskip("jsonschema")
    for value in VALUES:
        full = jsonschema.Draft202012Validator(schema).is_valid(copy.deepcopy(value))
        try:
            check_against_schema(value, schema)
            ours = True
        except SchemaMismatch:
            ours = False
        assert ours == full, (schema, value)


def test_cycles_and_unresolvable_references_are_refused_not_followed():
    with pytest.raises(SchemaMismatch, match="too deep"):
        check_against_schema({}, {"$ref": "#"})
    with pytest.raises(SchemaMismatch, match="does not resolve"):
        check_against_schema({}, {"$ref": "#/$defs/missing"})
