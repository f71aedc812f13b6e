"""How an agent's ``output_type`` is asked for and validated.

Three ways to ask, chosen from the model's profile and overridable per agent:

- ``native``: ``response_format`` json_schema; the answer's text is the JSON.
- ``tool``: a final-result tool whose arguments are the output.
- ``prompted``: the schema goes in the instructions (and ``json_object`` where the
  server supports it); the answer's text is the JSON.

Output types whose JSON schema is not an object (scalars, lists, unions) are
wrapped as ``{"result": ...}`` so every server accepts the schema.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, get_type_hints

import pydantic_core
from pydantic import BaseModel, TypeAdapter, ValidationError, create_model

from agentkit._errors import ConfigurationError, UserError
from agentkit.schema import (
    format_validation_errors,
    model_json,
    type_schema,
    validate_model_json,
)
from agentkit.tools import ToolDefinition

__all__ = [
    "EMPTY_ANSWER",
    "OUTPUT_TOOL_NAME",
    "OutputMode",
    "OutputSchema",
    "OutputSpec",
    "OutputValidationError",
]

OutputT = TypeVar("OutputT")

OutputMode = Literal["native", "tool", "prompted"]
"""How structured output is asked for: ``response_format`` json_schema, a final-result
tool, or the schema in the instructions (with ``json_object`` where supported)."""

OUTPUT_TOOL_NAME = "final_result"
EMPTY_ANSWER = "Your answer was empty."
"""How the feedback to a model that answered with nothing begins (a ``RetryEvent``'s
``reason``): the CLI tells a ``--base-url`` user what makes a server answer empty."""
_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class OutputValidationError(Exception):
    """The model's output did not validate; ``str()`` is the feedback for the model."""


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """How the run's structured output is asked for.

    ``native``: the model sends ``response_format`` json_schema with ``schema``.
    ``tool``: the loop has already put a tool named ``name`` in the request's tools.
    ``prompted``: the loop has put the schema in the instructions; the model sends
    ``json_object`` (with the schema where ``json_object_with_schema``) if supported.
    """

    mode: OutputMode
    name: str
    schema: Mapping[str, Any]
    description: str | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class _ModePlan:
    """What is static for one output mode: the spec, the tool, the extra instructions."""

    mode: OutputMode
    spec: OutputSpec
    tool: ToolDefinition | None
    instructions: str | None


class OutputSchema(Generic[OutputT]):
    """The output type, its JSON schema, its validators, and how to ask for it."""

    def __init__(self, output_type: Any, *, mode: OutputMode | None = None) -> None:
        _check_is_a_type(output_type)
        self.output_type = output_type
        self.mode_override = mode
        self.is_text = output_type is str
        self._plans: dict[OutputMode, _ModePlan] = {}
        self._partial_adapter: Any = None
        if self.is_text:
            if mode is not None:
                raise ConfigurationError(
                    f"output_mode={mode!r} needs a structured output_type; with output_type=str "
                    "the model answers in plain text. Drop output_mode or set output_type."
                )
            self.wrapped = False
            self.schema: dict[str, Any] = {}
            return
        ts = type_schema(output_type)
        self._adapter = ts.adapter
        self.wrapped = not ts.is_object
        if self.wrapped:
            self.schema = {
                "type": "object",
                "properties": {"result": ts.json_schema},
                "required": ["result"],
            }
            defs = ts.json_schema.get("$defs")
            if defs:
                inner = {k: v for k, v in ts.json_schema.items() if k != "$defs"}
                self.schema = {**self.schema, "properties": {"result": inner}, "$defs": defs}
        else:
            self.schema = ts.json_schema
        self.schema_name = ts.name
        self.description = _description_of(output_type)
        if isinstance(output_type, type) and issubclass(output_type, BaseModel):
            self._partial_adapter = TypeAdapter(_partial_model(output_type))

    # -- how to ask -----------------------------------------------------------------

    def resolve_mode(self, preferred: OutputMode, *, json_schema: bool, tools: bool) -> OutputMode:
        """The mode to use: the agent's override, else the model's ``preferred`` one.

        Falls back when the server cannot do it: native needs ``json_schema`` support,
        tool needs ``tools``; prompted works everywhere.
        """
        mode = self.mode_override or preferred
        if mode == "native" and not json_schema:
            mode = "tool" if tools else "prompted"
        if mode == "tool" and not tools:
            mode = "prompted"
        return mode

    def plan(self, mode: OutputMode) -> _ModePlan:
        """The static request parts for ``mode``, built once and cached."""
        plan = self._plans.get(mode)
        if plan is None:
            plan = self._build_plan(mode)
            self._plans[mode] = plan
        return plan

    def _build_plan(self, mode: OutputMode) -> _ModePlan:
        name = OUTPUT_TOOL_NAME if mode == "tool" else self.schema_name
        spec = OutputSpec(
            mode=mode, name=name, schema=self.schema, description=self.description, strict=None
        )
        tool = None
        instructions = None
        if mode == "tool":
            tool = ToolDefinition(
                name=OUTPUT_TOOL_NAME,
                description=(
                    "Give the final answer. Call this exactly once, when you have everything "
                    "needed; its arguments are the answer."
                ),
                parameters=self.schema,
            )
        elif mode == "prompted":
            instructions = (
                "Answer with a single JSON object, no prose, matching this JSON schema:\n"
                + pydantic_core.to_json(self.schema).decode()
            )
        return _ModePlan(mode=mode, spec=spec, tool=tool, instructions=instructions)

    # -- validation -------------------------------------------------------------------

    def validate_text(self, text: str) -> OutputT:
        """Validate a native/prompted answer (JSON text, code fences tolerated)."""
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
        if not text.strip():
            raise OutputValidationError(
                f"{EMPTY_ANSWER} Answer with a JSON object that matches the schema."
            )
        return self._validate(text)

    def validate_arguments(self, arguments: str) -> OutputT:
        """Validate the JSON arguments of a final-result tool call."""
        return self._validate(arguments)

    def _validate(self, data: str) -> OutputT:
        try:
            if self.wrapped:
                try:
                    parsed = model_json(data)
                except ValueError as exc:
                    raise OutputValidationError(_not_json(exc)) from None
                if not isinstance(parsed, dict) or "result" not in parsed:
                    raise OutputValidationError(
                        'The output must be a JSON object with one key, "result", holding the '
                        "answer. Send it again in that shape."
                    )
                value: OutputT = self._adapter.validate_python(parsed["result"])
                return value
            value = validate_model_json(self._adapter.validate_json, data)
            return value
        except ValidationError as exc:
            if _is_json_error(exc):
                raise OutputValidationError(_not_json(exc)) from None
            raise OutputValidationError(
                "The output failed validation:\n"
                + format_validation_errors(exc)
                + "\nFix these fields and send the whole output again."
            ) from None

    def validate_partial(self, data: str) -> Any:
        """The output so far, from incomplete JSON, or ``None`` when nothing validates yet."""
        if self._partial_adapter is None or not data:
            return None
        try:
            return validate_model_json(self._validate_partial, data)
        except (ValidationError, ValueError):
            return None

    def _validate_partial(self, data: str | bytes) -> Any:
        return self._partial_adapter.validate_json(
            data, experimental_allow_partial="trailing-strings"
        )


_VALUES = (str, bytes, int, float, bool, dict, list, tuple, set, frozenset, BaseModel)


def _check_is_a_type(output_type: Any) -> None:
    """Refuse a value where a type belongs (``"str"``, ``Report(city="x")``): pydantic would
    take a string for a forward reference and give an unrelated error for an instance."""
    if isinstance(output_type, str):
        raise UserError(
            f"output_type={output_type!r} is a string, not a type: pass the type itself, "
            f"without quotes (output_type={output_type})."
        )
    is_instance = isinstance(output_type, _VALUES) or (
        dataclasses.is_dataclass(output_type) and not isinstance(output_type, type)
    )
    if is_instance:
        name = type(output_type).__name__
        raise UserError(
            f"output_type is an instance of {name} ({output_type!r:.80}), not a type: pass the "
            f"class, output_type={name}."
        )


def _is_json_error(exc: ValidationError) -> bool:
    return any(err["type"] == "json_invalid" for err in exc.errors(include_url=False))


def _not_json(exc: Exception) -> str:
    if isinstance(exc, ValidationError):  # its last line is a link, not the reason
        reasons = [e["msg"] for e in exc.errors(include_url=False) if e["type"] == "json_invalid"]
        detail = reasons[0] if reasons else "invalid JSON"
    else:
        lines = str(exc).strip().splitlines()
        detail = lines[0] if lines else "invalid JSON"
    return (
        f"The output was not valid JSON ({detail}). "
        "Send only the JSON object, with no text around it."
    )


def _description_of(output_type: Any) -> str | None:
    doc = getattr(output_type, "__doc__", None)
    if not doc or not isinstance(output_type, type):
        return None
    if issubclass(output_type, BaseModel) and doc == BaseModel.__doc__:
        return None
    return doc.strip().split("\n\n", 1)[0] or None


def _partial_model(model: type[BaseModel]) -> type[BaseModel]:
    """A version of ``model`` whose top-level fields are all optional (for streaming)."""
    hints = get_type_hints(model)
    fields: Mapping[str, Any] = {
        name: (hints.get(name, Any) | None, None) for name in model.model_fields
    }
    partial: type[BaseModel] = create_model(f"Partial{model.__name__}", **fields)
    return partial
