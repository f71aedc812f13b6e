"""Tool signatures with pydantic ``Field`` defaults, and strict-mode nulls meaning the default."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import jsonschema  # type: ignore[import-untyped]
import pytest
from pydantic import BaseModel, Field

from agentkit import Tool, tool
from agentkit.schema import to_strict
from agentkit.tools import ToolArgumentsError


def _call(t: Tool[Any], arguments: str) -> Any:
    """Validate ``arguments`` as the loop does, then call the tool with them."""
    args = t.validate_args(arguments)

    async def main() -> Any:
        return await t.run(None, args)

    return anyio.run(main)


def test_annotated_field_default_is_applied_when_left_out() -> None:
    """``Annotated[int, Field(default=5)]``, no Python default: optional, 5 when left out."""

    @tool
    def pick(n: Annotated[int, Field(default=5)]) -> int:
        """Pick n."""
        return n

    assert pick.definition.parameters["required"] == []
    assert _call(pick, "{}") == 5
    assert _call(pick, '{"n": 2}') == 2


def test_field_as_python_default_applies_value_and_constraints() -> None:
    """``n: int = Field(5, ge=1)``: 5 when left out, ``ge=1`` in the schema and enforced."""

    @tool
    def pick(n: int = Field(5, ge=1, description="How many.")) -> int:
        """Pick n."""
        return n

    schema = pick.definition.parameters
    assert schema["properties"]["n"]["minimum"] == 1
    assert schema["properties"]["n"]["description"] == "How many."
    assert schema["required"] == []
    assert _call(pick, "{}") == 5
    assert _call(pick, '{"n": null}') == 5
    with pytest.raises(ToolArgumentsError, match="greater than or equal to 1"):
        pick.validate_args('{"n": 0}')


def test_field_default_factory_makes_a_fresh_value() -> None:
    """``Field(default_factory=list)`` passes a new list, never the ``FieldInfo`` itself."""

    @tool
    def collect(items: list[str] = Field(default_factory=list)) -> list[str]:  # noqa: B008
        """Collect items."""
        items.append("x")
        return items

    assert _call(collect, "{}") == ["x"]
    assert _call(collect, "{}") == ["x"]
    assert _call(collect, '{"items": ["a"]}') == ["a", "x"]


class Opts(BaseModel):
    """Search options."""

    limit: int = 10
    tags: list[str] = []


def search(q: str, opts: Opts) -> str:
    """Search."""
    return f"{q}:{opts.limit}:{opts.tags}"


def test_openai_strict_nested_null_means_the_default() -> None:
    """A nested optional field sent as null (what OpenAI strict mode makes) gets its default."""
    t = tool(search)
    strict = to_strict(t.definition.parameters, "openai")
    assert strict is not None
    instance = {"q": "x", "opts": {"limit": None, "tags": None}}
    jsonschema.Draft202012Validator(strict).validate(instance)
    assert _call(t, '{"q": "x", "opts": {"limit": null, "tags": null}}') == "x:10:[]"
    assert _call(t, '{"q": "x", "opts": {"limit": 3}}') == "x:3:[]"


def test_null_for_a_nested_required_field_is_still_an_error() -> None:
    """Only fields with defaults treat null as the default; a required nested field refuses it."""

    class Inner(BaseModel):
        must: int

    def f(inner: Inner) -> int:
        """F."""
        return inner.must

    with pytest.raises(ToolArgumentsError, match="must"):
        tool(f).validate_args('{"inner": {"must": null}}')


def test_nested_nulls_inside_lists_mean_the_default() -> None:
    """Null for a defaulted field of a model inside a list also means the default."""

    def f(opts: list[Opts]) -> list[int]:
        """F."""
        return [o.limit for o in opts]

    assert _call(tool(f), '{"opts": [{"limit": null}, {"limit": 2}]}') == [10, 2]
