"""``MCPTool``: one tool of an MCP server as a ``Tool`` the loop runs like any other."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from agentkit._errors import ToolDefinitionError
from agentkit._run.state import Run
from agentkit.hooks import ToolResult
from agentkit.mcp._client import _Link
from agentkit.mcp._sampling import CURRENT_CALL, Call
from agentkit.tools import (
    TOOL_NAME_PATTERN,
    RunContext,
    Tool,
    ToolArgumentsError,
    ToolDefinition,
)

if TYPE_CHECKING:
    import mcp_types
    from jsonschema.protocols import Validator  # type: ignore[import-untyped]

__all__ = ["ApprovalRule", "MCPTool"]

ApprovalRule = bool | Callable[[RunContext[Any], dict[str, Any]], bool]
"""Whether one tool needs approval: ``True``, or a callable ``(ctx, args) -> bool``."""


_QUICK_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "format"})
_QuickPlan = tuple[dict[str, tuple[Callable[[Any], bool], ...]], tuple[str, ...], bool]


def _quick_plan(schema: Mapping[str, Any]) -> _QuickPlan | None:
    """For the common schema (an object of typed properties, ``required``, a boolean
    ``additionalProperties``), what to check; ``None`` when the schema uses anything else."""
    if schema.get("type") != "object" or not set(schema) <= {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "title",
        "description",
    }:
        return None
    additional = schema.get("additionalProperties", True)
    properties = schema.get("properties", {})
    if not isinstance(additional, bool) or not isinstance(properties, dict):
        return None
    checks: dict[str, tuple[Callable[[Any], bool], ...]] = {}
    for name, prop in properties.items():
        if not isinstance(prop, dict) or not set(prop) <= _ANNOTATIONS | {"type"}:
            return None
        kinds = prop.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list) or not all(k in _QUICK_TYPES for k in kinds):
            return None
        checks[name] = tuple(_QUICK_TYPES[k] for k in kinds)
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return None
    return checks, tuple(required), additional


def _quick_valid(plan: _QuickPlan, value: dict[str, Any]) -> bool:
    """True when ``value`` surely matches (False: let jsonschema decide, and say why)."""
    checks, required, additional = plan
    for name in required:
        if name not in value:
            return False
    for name, item in value.items():
        kinds = checks.get(name)
        if kinds is None:
            if not additional:
                return False
        elif kinds and not any(ok(item) for ok in kinds):
            return False
    return True


class MCPTool(Tool[Callable[..., Any]]):
    """One tool of an MCP server, as the model sees it (maybe prefixed) and as it is called.

    A ``Tool`` like any other, with every attribute a ``@tool`` has, set the same way:
    ``function`` (what calling the tool calls: ``await mcp_tool(**args)`` calls the server,
    outside any run, and gives the ``ToolResult``) is a function named after the tool whose
    docstring is its description. Only the schema differs: it is the server's input schema,
    checked with jsonschema (a fast path for the common shape), not built from a signature.
    """

    def __init__(
        self, link: _Link, spec: mcp_types.Tool, name: str, needs_approval: ApprovalRule = False
    ) -> None:
        if not TOOL_NAME_PATTERN.match(name):
            raise ToolDefinitionError(
                f"MCP server {link.label} has a tool named {spec.name!r}, exposed as {name!r}, "
                "which models do not accept (1 to 64 letters, digits, '_' or '-'). Filter it "
                "out with .filtered(...) or choose a shorter prefix."
            )
        remote_name = spec.name
        description = spec.description or spec.title or spec.name

        async def function(**arguments: Any) -> ToolResult:
            return await link.call(remote_name, arguments)

        function.__name__ = function.__qualname__ = name
        function.__doc__ = description
        function.__module__ = "agentkit.mcp"  # its public home, not this private module
        self._link = link
        self.remote_name = remote_name
        """The tool's name on the server."""
        # What Tool.__init__ sets, in its order, from the server's spec instead of a signature.
        self.function = function
        self.name = name
        self.description = description
        self.parameters = dict(spec.input_schema or {"type": "object", "properties": {}})
        self.strict = None
        self.needs_approval = needs_approval
        self.takes_ctx = False
        self.is_async = True
        self._validator: Validator | None = None
        self._quick = _quick_plan(self.parameters)
        self._definition = ToolDefinition(
            name=name, description=description, parameters=self.parameters
        )
        functools.update_wrapper(self, function)

    def __repr__(self) -> str:
        return f"MCPTool(name={self.name!r}, server={self._link.label})"

    def validate_args(self, arguments: str | bytes) -> dict[str, Any]:
        """The model's JSON arguments, checked against the server's input schema."""
        if not arguments or not arguments.strip():
            arguments = "{}"
        try:
            value = json.loads(arguments, strict=False)  # a model wrote it: see schema.model_json
        except ValueError as exc:
            raise ToolArgumentsError(
                f"the arguments are not valid JSON ({exc}). Send the arguments as one JSON "
                "object matching the tool's parameters."
            ) from None
        if not isinstance(value, dict):
            raise ToolArgumentsError(
                "the arguments must be a JSON object with the parameters as keys. Send one "
                "JSON object matching the tool's parameters."
            )
        if self._quick is not None and _quick_valid(self._quick, value):
            return value
        validator = self._validator
        if validator is None:
            from jsonschema.validators import validator_for  # type: ignore[import-untyped]

            cls = validator_for(self.parameters)
            validator = self._validator = cls(self.parameters)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [
                f"- {'.'.join(str(p) for p in e.absolute_path) or '(arguments)'}: {e.message}"
                for e in errors
            ]
            count = f"{len(errors)} error" + ("" if len(errors) == 1 else "s")
            raise ToolArgumentsError(
                f"{count}:\n" + "\n".join(lines) + "\nFix these arguments and call the tool again."
            )
        return value

    async def run(self, ctx: RunContext[Any] | None, args: dict[str, Any]) -> ToolResult:
        """Call the tool on the server; the result (or failure) as a ``ToolResult``.

        With a ``sampling_model``, the server's sampling requests during the call are part
        of ``ctx``'s run (see the module docs); one that could pass the run's budget ends
        the run with ``UsageLimitExceeded`` here, once the call returned."""
        link = self._link
        if link.sampling_model is None:
            return await link.call(self.remote_name, args)
        run = ctx._run if ctx is not None else None
        call = Call(run if isinstance(run, Run) else None)
        link.calls.append(call)
        token = CURRENT_CALL.set(call)
        try:
            result = await link.call(self.remote_name, args)
        finally:
            CURRENT_CALL.reset(token)
            link.calls.remove(call)
            for scope in call.scopes:  # samplings the server did not wait for
                scope.cancel()
        if call.refused is not None:
            raise call.refused
        return result
