"""The model interface: what the loop sends, what a model answers, and its profile.

A model is anything with a ``name``, a ``profile``, ``request()`` and
``stream()``. The loop builds a provider-neutral ``ModelRequest``; the model
turns it into its wire format (applying its dialect) and answers with a
``ModelResponse``. ``stream()`` yields ``TextDelta`` and ``ToolCallDelta`` events
as they arrive and, last, the complete ``ModelResponse``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Protocol, runtime_checkable

from agentkit.messages import AssistantMessage, Message
from agentkit.usage import ModelPrice, Usage

__all__ = [
    "Model",
    "ModelProfile",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "ModelStreamEvent",
    "OutputMode",
    "OutputSpec",
    "TextDelta",
    "ToolCallDelta",
    "ToolChoice",
    "ToolDefinition",
]

OutputMode = Literal["native", "tool", "prompted"]
"""How structured output is asked for: ``response_format`` json_schema, a final-result
tool, or the schema in the instructions (with ``json_object`` where supported)."""

ToolChoice = Literal["auto", "none", "required"] | str
"""``auto``, ``none``, ``required`` (some tool must be called) or a tool's name."""


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What a model family can do and how its server wants to be spoken to.

    Declarative data: provider quirks live here as flags, never as ``if``s in the loop.
    """

    name: str = "openai-compatible"
    provider: str = "openai"
    """OpenTelemetry ``gen_ai.provider.name`` (``mistral_ai``, ``openai``, ...)."""
    context_window: int | None = None
    max_output_tokens: int = 4096
    """Sent as the request's output-token cap unless the user sets ``max_tokens``."""
    price: ModelPrice | None = None
    supports_tools: bool = True
    supports_vision: bool = False
    supports_json_schema: bool = True
    """Accepts ``response_format: {"type": "json_schema", ...}``."""
    supports_json_object: bool = True
    """Accepts ``response_format: {"type": "json_object"}``."""
    supports_parallel_tool_calls: bool = True
    output_mode: OutputMode = "native"
    """Preferred way to ask for structured output."""
    default_temperature: float | None = None

    # --- dialect flags -------------------------------------------------------
    tool_call_id_style: Literal["any", "mistral"] = "any"
    """``mistral``: ids on the wire must match ``^[a-zA-Z0-9]{9}$``."""
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    json_object_with_schema: bool = False
    """llama.cpp: structured output as ``{"type": "json_object", "schema": ...}``."""
    tool_choice_required: str | None = "required"
    """What to send for "some tool must be called"; ``None`` when the server cannot."""
    supports_named_tool_choice: bool = True
    strict_schema: Literal["openai", "mistral", "none"] = "openai"
    """How ``strict`` tool/output schemas are transformed for this server."""
    assistant_content_never_null: bool = False
    """Send ``""`` instead of ``null`` for assistant content (llama.cpp 500s on null)."""
    rejected_fields: frozenset[str] = frozenset()
    """Request fields the server rejects; never sent."""
    strict_message_order: bool = False
    """Repair message order before sending (Mistral's rules)."""
    renamed_fields: tuple[tuple[str, str], ...] = ()
    """Request fields the server spells differently, as ``(openai_name, server_name)``
    pairs (Mistral: ``("seed", "random_seed")``)."""
    tool_results_as_user_text: bool = False
    """Send each tool result as a user message naming the tool (``Result of NAME: ...``,
    ``Error from NAME: ...``) instead of a ``tool`` message: for servers whose chat
    template drops the content of tool messages (llama.cpp's ``chatml-function-calling``)."""
    default_tool_choice: str | None = None
    """``tool_choice`` sent when tools are offered and the request names none; ``None``
    sends nothing (llama.cpp hides the tools from the model unless it gets ``"auto"``)."""
    stream_tool_requests: bool = True
    """``False``: a streamed request that offers tools is sent unstreamed and its answer
    replayed as deltas (llama.cpp cannot stream a tool call the model chose itself)."""
    retry_text_without_tools: bool = False
    """When tools went with ``tool_choice: "auto"``, the request allowed a text answer, and
    the answer is empty (no text, no tool call), ask again without the tools to get the
    text; usage adds up. For servers that grammar-restrict the answer under ``"auto"`` to
    a tool call (llama.cpp: a text answer always comes back empty)."""
    retry_required_with_output_tool: bool = False
    """When the request required a tool call but the wire could only say ``"auto"``
    (``tool_choice_required`` is ``None``), the final-result tool (``OutputSpec`` in
    ``tool`` mode) is offered, and the answer is empty, ask again naming the final-result
    tool: the model chose to answer, and the tool's arguments are its answer. Usage adds up."""

    def with_changes(self, **changes: Any) -> ModelProfile:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Sampling and request settings; ``None`` means "not set" (use the default)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    parallel_tool_calls: bool | None = None
    timeout: float | None = None
    """Seconds for one request, including retries' waits."""
    extra_body: Mapping[str, Any] | None = None
    """Extra JSON fields merged into the request body as they are."""

    def merged(self, override: ModelSettings | None) -> ModelSettings:
        """These settings with every field set in ``override`` taking precedence."""
        if override is None:
            return self
        changes = {
            f.name: getattr(override, f.name)
            for f in fields(override)
            if getattr(override, f.name) is not None
        }
        return replace(self, **changes) if changes else self


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool as the model sees it: name, description, JSON schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    strict: bool | None = None


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
class ModelRequest:
    """Everything one model request needs, provider-neutral."""

    messages: Sequence[Message]
    tools: Sequence[ToolDefinition] = ()
    output: OutputSpec | None = None
    tool_choice: ToolChoice | None = None
    settings: ModelSettings = field(default_factory=ModelSettings)


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """A complete model answer: the assistant message and this request's usage."""

    message: AssistantMessage
    usage: Usage
    finish_reason: str | None = None
    model_name: str | None = None
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of assistant text, as it streams."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call, as it streams; ``index`` says which call of the turn."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


ModelStreamEvent = TextDelta | ToolCallDelta | ModelResponse


@runtime_checkable
class Model(Protocol):
    """A chat model the agent loop can drive."""

    @property
    def name(self) -> str:
        """The model's name as sent to the server."""
        ...

    @property
    def profile(self) -> ModelProfile:
        """Capabilities, limits, prices and dialect."""
        ...

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one request and return the complete answer."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """Send one request streamed: deltas as they arrive, then the ``ModelResponse``."""
        ...
