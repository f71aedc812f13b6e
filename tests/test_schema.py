"""Tests for agentkit.schema: signatures and types as JSON schemas, strict transforms, errors."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import jsonschema  # type: ignore[import-untyped]
import pytest
import typing_extensions
from pydantic import BaseModel, Field, ValidationError

from agentkit._errors import ToolDefinitionError, UserError
from agentkit.schema import (
    FunctionSchema,
    format_validation_errors,
    function_schema,
    is_run_context,
    to_strict,
    type_schema,
)

# --------------------------------------------------------------------------- fixtures

T = TypeVar("T")


class Ctx(Generic[T]):
    """A stand-in run-context class: only the marker matters to schema.py."""

    __agentkit_run_context__: ClassVar[bool] = True


class Color(enum.Enum):
    """A colour."""

    RED = "red"
    GREEN = "green"


class Point(BaseModel):
    """A point on the plane."""

    x: int
    y: int = 0


class Shape(BaseModel):
    name: str
    points: list[Point]
    color: Color = Color.RED


@dataclasses.dataclass
class Box:
    width: float
    height: float = 1.0


class Address(typing_extensions.TypedDict):
    street: str
    number: int


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"] = "dog"
    good: bool


class Tree(BaseModel):
    value: int
    children: list[Tree] = []


def schema_of(fn: Callable[..., Any]) -> FunctionSchema:
    return function_schema(fn, name=getattr(fn, "__name__", "f"))


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a JSON structure (schemas and maps alike)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def assert_valid_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft202012Validator.check_schema(schema)


# --------------------------------------------------------------------------- signatures


def f_scalars(s: str, i: int, f: float, b: bool, n: None) -> None: ...
def f_optional(a: int | None, b: str | None = None, c: int | str = 1) -> None: ...
def f_literal(unit: Literal["c", "f"], one: Literal["x"] = "x") -> None: ...
def f_enum(color: Color) -> None: ...
def f_containers(
    a: list[int], b: tuple[int, str], c: tuple[int, ...], d: set[str], e: dict[str, float]
) -> None: ...
def f_nested(shape: Shape, box: Box, address: Address, boxes: list[Box] | None = None) -> None: ...
def f_annotated(
    n: Annotated[int, Field(ge=1, le=10, description="How many")],
    name: Annotated[str, Field(max_length=20, pattern=r"^[a-z]+$")] = "x",
) -> None: ...
def f_dates(when: datetime.datetime, day: datetime.date, id: uuid.UUID) -> None: ...
def f_union_models(pet: Cat | Dog) -> None: ...
def f_discriminated(pet: Annotated[Cat | Dog, Field(discriminator="kind")]) -> None: ...
def f_recursive(tree: Tree) -> None: ...
def f_any(payload: Any, extra: dict[str, Any] | None = None) -> None: ...
def f_empty() -> None: ...
def f_defaults(a: int = 3, b: list[str] | None = None, c: object = object()) -> None: ...
def f_ctx(ctx: Ctx[int], city: str) -> None: ...
def f_names(json: str, schema: str, model_config: int, copy: bool = False) -> None: ...
async def f_async(city: str) -> str:
    return city


ALL_SIGNATURES = [
    f_scalars,
    f_optional,
    f_literal,
    f_enum,
    f_containers,
    f_nested,
    f_annotated,
    f_dates,
    f_union_models,
    f_discriminated,
    f_recursive,
    f_any,
    f_empty,
    f_defaults,
    f_ctx,
    f_names,
    f_async,
]


@pytest.mark.parametrize("fn", ALL_SIGNATURES, ids=lambda f: f.__name__)
def test_every_function_schema_is_valid_draft7_and_2020_12(fn: Callable[..., Any]) -> None:
    """Every generated parameters schema passes the Draft 7 and Draft 2020-12 meta-schemas."""
    schema = schema_of(fn).parameters
    assert_valid_schema(schema)
    assert schema["type"] == "object"
    assert "properties" in schema and "required" in schema


@pytest.mark.parametrize("fn", ALL_SIGNATURES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("style", ["openai", "mistral"])
def test_every_strict_schema_is_valid_when_possible(
    fn: Callable[..., Any], style: Literal["openai", "mistral"]
) -> None:
    """Strict forms exist except where openai cannot express them, and are valid schemas."""
    strict = to_strict(schema_of(fn).parameters, style)
    impossible = style == "openai" and fn in (f_containers, f_any, f_defaults)
    if impossible:
        assert strict is None
    else:
        assert strict is not None
        assert_valid_schema(strict)


@pytest.mark.parametrize("fn", ALL_SIGNATURES, ids=lambda f: f.__name__)
def test_schemas_have_no_auto_titles(fn: Callable[..., Any]) -> None:
    """No schema node carries an auto-generated ``title`` (they cost tokens, say nothing)."""
    for node in walk(schema_of(fn).parameters):
        title = node.get("title")
        assert not isinstance(title, str), node


def test_scalar_types() -> None:
    """str, int, float, bool and None map to the matching JSON types, all required."""
    s = schema_of(f_scalars).parameters
    assert {k: v["type"] for k, v in s["properties"].items()} == {
        "s": "string",
        "i": "integer",
        "f": "number",
        "b": "boolean",
        "n": "null",
    }
    assert s["required"] == ["s", "i", "f", "b", "n"]
    assert s["additionalProperties"] is False


def test_optional_and_unions() -> None:
    """Optional and unions become anyOf; parameters with defaults are not required."""
    s = schema_of(f_optional).parameters
    assert s["properties"]["a"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert s["properties"]["b"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    assert s["properties"]["c"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert s["required"] == ["a"]


def test_literal_and_enum_become_enum() -> None:
    """Literal values and Enum members are listed under ``enum``."""
    s = schema_of(f_literal).parameters
    assert s["properties"]["unit"] == {"enum": ["c", "f"], "type": "string"}
    e = schema_of(f_enum).parameters
    ref = e["properties"]["color"]["$ref"]
    assert ref == "#/$defs/Color"
    assert e["$defs"]["Color"]["enum"] == ["red", "green"]


def test_containers() -> None:
    """list, tuple, set and dict map to arrays and objects with the element schemas."""
    p = schema_of(f_containers).parameters["properties"]
    assert p["a"] == {"items": {"type": "integer"}, "type": "array"}
    assert p["b"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert p["c"] == {"items": {"type": "integer"}, "type": "array"}
    assert p["d"]["uniqueItems"] is True
    assert p["e"] == {"additionalProperties": {"type": "number"}, "type": "object"}


def test_nested_types_go_to_defs() -> None:
    """Nested pydantic models, dataclasses and TypedDicts are described once under $defs."""
    s = schema_of(f_nested).parameters
    assert set(s["$defs"]) == {"Shape", "Point", "Color", "Box", "Address"}
    assert s["properties"]["shape"] == {"$ref": "#/$defs/Shape"}
    assert s["$defs"]["Point"]["description"] == "A point on the plane."
    assert s["$defs"]["Address"]["required"] == ["street", "number"]


def test_annotated_field_constraints() -> None:
    """Field(ge, le, max_length, pattern, description) inside Annotated reach the schema."""
    p = schema_of(f_annotated).parameters["properties"]
    assert p["n"] == {"description": "How many", "maximum": 10, "minimum": 1, "type": "integer"}
    assert p["name"]["maxLength"] == 20
    assert p["name"]["pattern"] == "^[a-z]+$"
    assert p["name"]["default"] == "x"


def test_dates_and_uuids_are_formatted_strings() -> None:
    """datetime, date and UUID are strings with a ``format``."""
    p = schema_of(f_dates).parameters["properties"]
    assert p["when"] == {"format": "date-time", "type": "string"}
    assert p["day"] == {"format": "date", "type": "string"}
    assert p["id"] == {"format": "uuid", "type": "string"}


def test_non_json_default_is_left_out_of_the_schema() -> None:
    """A default that cannot be written as JSON is omitted from the schema, without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = schema_of(f_defaults).parameters["properties"]
    assert p["a"]["default"] == 3
    assert "default" not in p["c"]


def test_parameter_names_that_clash_with_pydantic_attributes() -> None:
    """Parameters named like BaseModel attributes (json, schema, model_config) work."""
    fs = schema_of(f_names)
    assert list(fs.parameters["properties"]) == ["json", "schema", "model_config", "copy"]
    args = fs.validate_json('{"json": "a", "schema": "b", "model_config": 1}')
    assert args == {"json": "a", "schema": "b", "model_config": 1}


# --------------------------------------------------------------------------- docstrings


def google(city: str, unit: str = "c") -> None:
    """Get the weather.

    Uses the national service.

    Args:
        city (str): The city name.
        unit: The temperature unit.

    Returns:
        A sentence.
    """


def numpy(city: str, unit: str = "c") -> None:
    """Get the weather.

    Uses the national service.

    Parameters
    ----------
    city : str
        The city name.
    unit : str
        The temperature unit.
    """


def sphinx(city: str, unit: str = "c") -> None:
    """Get the weather.

    Uses the national service.

    :param city: The city name.
    :param unit: The temperature unit.
    :returns: A sentence.
    """


@pytest.mark.parametrize("fn", [google, numpy, sphinx], ids=lambda f: f.__name__)
def test_docstring_styles(fn: Callable[..., Any]) -> None:
    """Google, NumPy and Sphinx docstrings give the description and each parameter's text."""
    fs = schema_of(fn)
    assert fs.description == "Get the weather.\n\nUses the national service."
    props = fs.parameters["properties"]
    assert props["city"]["description"] == "The city name."
    assert props["unit"]["description"] == "The temperature unit."


def test_field_description_wins_over_docstring() -> None:
    """A Field(description=...) in the annotation beats the docstring's text."""

    def fn(n: Annotated[int, Field(description="From the field")]) -> None:
        """Do it.

        Args:
            n: From the docstring.
        """

    assert schema_of(fn).parameters["properties"]["n"]["description"] == "From the field"


def test_description_override_and_no_docstring() -> None:
    """``description=`` replaces the docstring summary; no docstring gives an empty one."""

    def fn(n: int) -> None:
        """Summary."""

    def bare(n: int) -> None:
        pass

    assert function_schema(fn, name="fn", description="Mine").description == "Mine"
    assert function_schema(bare, name="bare").description == ""
    assert "description" not in function_schema(bare, name="bare").parameters["properties"]["n"]


# --------------------------------------------------------------------------- validation


def test_validate_json_returns_typed_values() -> None:
    """Nested models arrive as instances, dataclasses as dataclasses, datetimes as datetime."""
    fs = schema_of(f_nested)
    args = fs.validate_json(
        '{"shape": {"name": "tri", "points": [{"x": 1}], "color": "green"},'
        ' "box": {"width": 2}, "address": {"street": "Main", "number": 3}}'
    )
    assert args["shape"] == Shape(name="tri", points=[Point(x=1)], color=Color.GREEN)
    assert isinstance(args["shape"].points[0], Point)
    assert args["box"] == Box(width=2.0)
    assert args["address"] == {"street": "Main", "number": 3}
    assert "boxes" not in args  # omitted: the function's own default applies

    dates = schema_of(f_dates).validate_json(
        b'{"when": "2026-01-02T03:04:05Z", "day": "2026-01-02",'
        b' "id": "12345678-1234-5678-1234-567812345678"}'
    )
    assert dates["when"] == datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert dates["day"] == datetime.date(2026, 1, 2)
    assert dates["id"] == uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_validate_python_and_containers() -> None:
    """validate_python accepts parsed data; tuples and sets come back as tuples and sets."""
    fs = schema_of(f_containers)
    args = fs.validate_python(
        {"a": [1], "b": [1, "x"], "c": [1, 2], "d": ["a", "a"], "e": {"k": 1.5}}
    )
    assert args == {"a": [1], "b": (1, "x"), "c": (1, 2), "d": {"a"}, "e": {"k": 1.5}}


def test_null_for_a_defaulted_parameter_means_the_default() -> None:
    """A null sent for a parameter with a default that rejects None yields that default."""
    fs = schema_of(f_defaults)
    assert fs.validate_json('{"a": null, "b": null}') == {"a": 3, "b": None}


def test_null_for_a_required_parameter_is_an_error() -> None:
    """A null for a required, non-nullable parameter is a validation error."""
    with pytest.raises(ValidationError) as info:
        schema_of(f_scalars).validate_json('{"s": null, "i": 1, "f": 1, "b": true, "n": null}')
    assert format_validation_errors(info.value) == "- s: Input should be a valid string (got None)"


def test_extra_arguments_are_rejected() -> None:
    """Arguments the function does not take are reported, not silently dropped."""
    with pytest.raises(ValidationError) as info:
        schema_of(f_literal).validate_json('{"unit": "c", "units": "f"}')
    assert format_validation_errors(info.value) == (
        "- units: Extra inputs are not permitted (got 'f')"
    )


def test_format_validation_errors_field_by_field() -> None:
    """Errors are listed one per line with a dotted path and the offending value."""

    def weather(city: str, unit: Literal["celsius", "fahrenheit"], shape: Shape) -> None: ...

    with pytest.raises(ValidationError) as info:
        schema_of(weather).validate_json(
            '{"unit": "kelvin", "shape": {"name": "a", "points": [{"x": 1}, {"x": "no"}]}}'
        )
    assert format_validation_errors(info.value) == (
        "- city: Field required\n"
        "- unit: Input should be 'celsius' or 'fahrenheit' (got 'kelvin')\n"
        "- shape.points.1.x: Input should be a valid integer, unable to parse string as an "
        "integer (got 'no')"
    )


def test_format_validation_errors_is_capped() -> None:
    """Many errors are cut to twenty lines plus a count of the rest; long values are shortened."""

    def many(items: list[int]) -> None: ...

    with pytest.raises(ValidationError) as info:
        schema_of(many).validate_python({"items": ["x" * 200] * 25})
    lines = format_validation_errors(info.value).splitlines()
    assert len(lines) == 21
    assert lines[-1] == "- ... and 5 more errors"
    assert lines[0].endswith("...)") and len(lines[0]) < 200


# --------------------------------------------------------------------------- run context


def test_run_context_first_parameter_is_detected_and_left_out() -> None:
    """A first parameter whose class carries the marker is the context, not in the schema."""
    fs = schema_of(f_ctx)
    assert fs.takes_ctx is True
    assert list(fs.parameters["properties"]) == ["city"]
    assert fs.validate_json('{"city": "Paris"}') == {"city": "Paris"}
    assert schema_of(f_scalars).takes_ctx is False


def test_is_run_context_variants() -> None:
    """Bare, parametrized and Annotated forms of the context class are recognised; others not."""
    assert is_run_context(Ctx)
    assert is_run_context(Ctx[int])
    assert is_run_context(Annotated[Ctx[int], "meta"])
    assert not is_run_context(int)
    assert not is_run_context(list[int])
    assert not is_run_context("Ctx")


# --------------------------------------------------------------------------- bad definitions


class Plain:
    pass


def _bad_not_first(city: str, ctx: Ctx[int]) -> None: ...
def _bad_missing(city) -> None: ...  # type: ignore[no-untyped-def]
def _bad_ctx_missing(ctx, city: str) -> None: ...  # type: ignore[no-untyped-def]
def _bad_args(*cities: str) -> None: ...
def _bad_kwargs(**options: str) -> None: ...
def _bad_plain(thing: Plain) -> None: ...
def _bad_callable(callback: Callable[[int], int]) -> None: ...
def _bad_posonly(city: str, /) -> None: ...
def _bad_typing_typeddict(address: _TypingAddress) -> None: ...


from typing import TypedDict as _TypingTypedDict  # noqa: E402


class _TypingAddress(_TypingTypedDict):
    street: str


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (
            _bad_not_first,
            "parameter 'ctx' of tool function '_bad_not_first' is annotated RunContext but is "
            "not the first parameter; make the run context the first parameter",
        ),
        (
            _bad_missing,
            "parameter 'city' of tool function '_bad_missing' has no type annotation; "
            "annotate it (e.g. `city: str`) so the model knows what to send",
        ),
        (
            _bad_ctx_missing,
            "parameter 'ctx' of tool function '_bad_ctx_missing' has no type annotation; "
            "annotate it as `ctx: RunContext[YourDeps]` if it is the run context, or with its type",
        ),
        (
            _bad_args,
            "parameter 'cities' of tool function '_bad_args' is *cities; tools take named "
            "parameters only. Replace it with a list parameter, e.g. `cities: list[str]`",
        ),
        (
            _bad_kwargs,
            "parameter 'options' of tool function '_bad_kwargs' is **options; tools take named "
            "parameters only. Declare each argument as its own annotated parameter, or use "
            "`options: dict[str, str]`",
        ),
        (
            _bad_posonly,
            "parameter 'city' of tool function '_bad_posonly' is positional-only; tools are "
            "called with keyword arguments. Remove the '/' from the signature",
        ),
    ],
    ids=lambda v: getattr(v, "__name__", "msg"),
)
def test_bad_definitions_raise_at_definition(fn: Callable[..., Any], expected: str) -> None:
    """A bad definition raises ToolDefinitionError naming function, parameter and the fix."""
    with pytest.raises(ToolDefinitionError) as info:
        schema_of(fn)
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("fn", "type_name", "reason"),
    [
        (_bad_plain, "Plain", "Unable to generate pydantic-core schema"),
        (_bad_callable, "Callable[[int], int]", "Cannot generate a JsonSchema"),
        (_bad_typing_typeddict, "_TypingAddress", "typing_extensions.TypedDict"),
    ],
    ids=["plain-class", "callable", "typing-typeddict"],
)
def test_unsupported_types_name_the_parameter(fn: Any, type_name: str, reason: str) -> None:
    """A type pydantic cannot describe is reported with the parameter, the type and the fix."""
    with pytest.raises(ToolDefinitionError) as info:
        schema_of(fn)
    message = str(info.value)
    param = next(iter(fn.__annotations__))
    assert message.startswith(
        f"parameter {param!r} of tool function {fn.__name__!r} has type {type_name}, "
        "which cannot be described as JSON schema ("
    )
    assert reason in message
    assert message.endswith("a pydantic model, a dataclass or a typing_extensions.TypedDict")


def test_unresolvable_annotation() -> None:
    """A string annotation naming an unknown type raises ToolDefinitionError with the fix."""

    def fn(x: Undefined) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(ToolDefinitionError) as info:
        schema_of(fn)
    assert str(info.value) == (
        "cannot resolve the type annotations of tool function "
        "'test_unresolvable_annotation.<locals>.fn': name 'Undefined' is not defined. Import "
        "the names used in its annotations at module level (not only under TYPE_CHECKING) "
        "and define the types it uses outside the function body"
    )


def test_not_callable() -> None:
    """A non-callable is rejected with a clear message."""
    with pytest.raises(ToolDefinitionError, match=r"^42 is not callable; a tool must be"):
        function_schema(42, name="x")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- output types


def test_type_schema_of_a_model() -> None:
    """A model's schema is an object root with its docstring and a validating adapter."""
    ts = type_schema(Shape)
    assert ts.is_object and ts.name == "Shape"
    assert ts.json_schema["type"] == "object"
    assert "title" not in ts.json_schema
    assert ts.json_schema["$defs"]["Point"]["description"] == "A point on the plane."
    value = ts.validate_json('{"name": "a", "points": [{"x": 1}]}')
    assert value == Shape(name="a", points=[Point(x=1)])
    assert ts.validate_python({"name": "a", "points": []}) == Shape(name="a", points=[])
    assert type_schema(Shape) is ts  # cached
    assert_valid_schema(ts.json_schema)


@pytest.mark.parametrize(
    ("tp", "is_object", "name"),
    [
        (Box, True, "Box"),
        (Address, True, "Address"),
        (str, False, "str"),
        (int, False, "int"),
        (list[Point], False, "output"),
        (Cat | Dog, False, "output"),
        (dict[str, int], True, "output"),
        (Tree, True, "Tree"),
        (Annotated[int, Field(ge=0)], False, "output"),
    ],
    ids=lambda v: str(v),
)
def test_type_schema_roots(tp: Any, is_object: bool, name: str) -> None:
    """Scalars, lists and unions are not object roots; models, dataclasses and dicts are."""
    ts = type_schema(tp)
    assert ts.is_object is is_object
    assert ts.name == name
    assert_valid_schema(ts.json_schema)


def test_type_schema_of_a_union_validates_into_the_right_model() -> None:
    """A union of models validates JSON into the matching model class."""
    ts = type_schema(Cat | Dog)
    assert len(ts.json_schema["anyOf"]) == 2
    assert ts.validate_json('{"kind": "dog", "good": true}') == Dog(good=True)


def test_type_schema_unsupported() -> None:
    """An output type pydantic cannot describe raises UserError saying what to use."""
    with pytest.raises(UserError) as info:
        type_schema(Plain)
    assert str(info.value).startswith(
        "output type Plain cannot be described as JSON schema (Unable to generate"
    )


# --------------------------------------------------------------------------- strict


def test_openai_strict_requires_everything_and_forbids_extras() -> None:
    """openai style: every property required, optional ones nullable, no extras anywhere."""
    source = schema_of(f_nested).parameters
    strict = to_strict(source, "openai")
    assert strict is not None
    assert strict["required"] == ["shape", "box", "address", "boxes"]
    assert strict["properties"]["boxes"] == {
        "anyOf": [{"items": {"$ref": "#/$defs/Box"}, "type": "array"}, {"type": "null"}]
    }
    for node in walk(strict):
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert node["required"] == list(node["properties"])
    # Box.height and Point.y have defaults: nullable, required
    assert strict["$defs"]["Box"]["properties"]["height"] == {
        "anyOf": [{"type": "number"}, {"type": "null"}]
    }
    assert "default" not in str(strict)
    assert source["required"] == ["shape", "box", "address"]  # the input is not mutated


DAY = datetime.date(2026, 1, 1)


def test_openai_strict_instance_validates_back() -> None:
    """An instance of the strict schema (nulls for optionals) passes the function's validator."""

    def fn(a: int = 3, b: list[str] | None = None, day: datetime.date = DAY) -> None: ...

    fs = schema_of(fn)
    strict = to_strict(fs.parameters, "openai")
    assert strict is not None
    instance = {"a": None, "b": None, "day": None}
    jsonschema.Draft202012Validator(strict).validate(instance)
    assert fs.validate_python(instance) == {"a": 3, "b": None, "day": DAY}


def test_openai_strict_drops_unsupported_keywords() -> None:
    """Keywords strict mode rejects are dropped; const becomes enum; supported ones stay."""
    strict = to_strict(schema_of(f_annotated).parameters, "openai")
    assert strict is not None
    assert strict["properties"]["name"] == {
        "anyOf": [{"pattern": "^[a-z]+$", "type": "string"}, {"type": "null"}]
    }
    assert strict["properties"]["n"]["minimum"] == 1
    lit = to_strict(schema_of(f_literal).parameters, "openai")
    assert lit is not None
    assert lit["properties"]["one"] == {
        "anyOf": [{"enum": ["x"], "type": "string"}, {"type": "null"}]
    }


def test_openai_strict_discriminated_union_uses_anyof() -> None:
    """A discriminated union's oneOf becomes anyOf and the discriminator is dropped."""
    strict = to_strict(schema_of(f_discriminated).parameters, "openai")
    assert strict is not None
    pet = strict["properties"]["pet"]
    assert set(pet) == {"anyOf"}
    assert pet["anyOf"] == [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]


def test_openai_strict_inlines_refs_with_siblings() -> None:
    """A $ref carrying sibling keywords is replaced by the definition merged with them."""
    schema = {
        "type": "object",
        "properties": {"p": {"$ref": "#/$defs/P", "description": "a point", "default": {}}},
        "required": ["p"],
        "$defs": {
            "P": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
        },
    }
    strict = to_strict(schema, "openai")
    assert strict is not None
    assert strict["properties"]["p"] == {
        "type": "object",
        "properties": {"x": {"type": "integer"}},
        "required": ["x"],
        "description": "a point",
        "additionalProperties": False,
    }


@pytest.mark.parametrize("fn", [f_containers, f_any], ids=["dict-and-tuple", "free-form"])
def test_openai_strict_impossible(fn: Callable[..., Any]) -> None:
    """Free-form dicts and fixed-length tuples cannot be strict in the openai style."""
    assert to_strict(schema_of(fn).parameters, "openai") is None


def test_openai_strict_dict_or_any_param_alone_is_impossible() -> None:
    """A single dict[str, int] or Any parameter makes the openai strict form impossible."""

    def scores(scores: dict[str, int]) -> None: ...
    def anything(payload: Any) -> None: ...

    assert to_strict(schema_of(scores).parameters, "openai") is None
    assert to_strict(schema_of(anything).parameters, "openai") is None
    assert to_strict(schema_of(anything).parameters, "mistral") is not None


def test_openai_strict_non_object_root_and_recursive_root() -> None:
    """A non-object root cannot be strict; a recursive model at the root is inlined."""
    assert to_strict(type_schema(list[int]).json_schema, "openai") is None
    strict = to_strict(type_schema(Tree).json_schema, "openai")
    assert strict is not None
    assert strict["type"] == "object"
    assert strict["required"] == ["value", "children"]
    assert_valid_schema(strict)


def test_mistral_strict_keeps_dicts_and_optionals() -> None:
    """mistral style: additionalProperties false on non-dict objects; dicts and optionals kept."""

    def fn(scores: dict[str, int], box: Box, note: str = "") -> None: ...

    source = schema_of(fn).parameters
    strict = to_strict(source, "mistral")
    assert strict is not None
    assert strict["properties"]["scores"] == {
        "additionalProperties": {"type": "integer"},
        "type": "object",
    }
    assert strict["required"] == ["scores", "box"]
    assert strict["additionalProperties"] is False
    assert strict["$defs"]["Box"]["additionalProperties"] is False
    assert strict["properties"]["note"]["default"] == ""


def test_mistral_strict_adds_additional_properties_where_missing() -> None:
    """Objects with properties and no additionalProperties get ``false`` in mistral style."""
    strict = to_strict(type_schema(Shape).json_schema, "mistral")
    assert strict is not None
    assert strict["additionalProperties"] is False
    assert strict["$defs"]["Point"]["additionalProperties"] is False
    assert "additionalProperties" not in type_schema(Shape).json_schema  # source unchanged


def test_to_strict_is_cached_by_identity() -> None:
    """The same schema object gives the same result object; an equal copy is recomputed."""
    source = schema_of(f_scalars).parameters
    first = to_strict(source, "openai")
    assert to_strict(source, "openai") is first
    copy = dict(source)
    again = to_strict(copy, "openai")
    assert again == first and again is not first


def test_to_strict_unknown_style() -> None:
    """An unknown style is a programming error with the valid choices named."""
    with pytest.raises(
        ValueError, match="unknown strict style 'gemini'; use 'openai' or 'mistral'"
    ):
        to_strict({"type": "object"}, "gemini")  # type: ignore[arg-type]
