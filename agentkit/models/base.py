"""The model interface: what the loop sends, what a model answers, and its profile.

A model is anything with a ``name``, a ``profile``, one primitive, ``stream()``, and a
lifecycle (``async with model:`` / ``await model.aclose()``). The loop builds a
provider-neutral ``ModelRequest``; the model turns it into its wire format (applying
its dialect) and yields ``TextDelta`` and ``ToolCallDelta`` events as they arrive and,
last, the complete ``ModelResponse``. A model may skip the deltas (always when
``request.stream`` is false); ``complete()`` and ``stream_events()`` below are the one
place where a complete answer is taken from a stream and where deltas are made from a
complete answer.

A model never sends a request on its own: a server quirk that needs a second request
comes back as ``ModelResponse.follow_up``, which the loop sends through its one request
point, so limits, hooks and traces see it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import AsyncGeneratorType
from typing import Any, Literal, Protocol, Self, get_args, runtime_checkable

import anyio

from agentkit._errors import ConfigurationError, ModelAPIError
from agentkit.messages import AssistantMessage, Message
from agentkit.output import OutputMode, OutputSpec
from agentkit.tools import ToolDefinition
from agentkit.usage import ModelPrice, Usage

__all__ = [
    "MistralGuardrail",
    "MistralGuardrailCategory",
    "Model",
    "ModelFallback",
    "ModelLifecycle",
    "ModelProfile",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "ModelStreamEvent",
    "OutputMode",
    "OutputSpec",
    "ReasoningLevel",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallDelta",
    "ToolChoice",
    "ToolDefinition",
    "complete",
    "loop_scoped",
    "stream_events",
]

ToolChoice = Literal["auto", "none", "required", "any"] | str
"""``auto``, ``none``, ``required`` (some tool must be called; ``any`` is the same, in
Mistral's word) or a tool's name."""

ReasoningLevel = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
"""How hard a reasoning model thinks before it answers (``ModelSettings.reasoning``);
each profile lists the levels its model accepts (``ModelProfile.reasoning_levels``)."""


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
    supports_documents: bool = False
    """Takes documents (``DocumentPart``: PDFs) in user messages and tool results."""
    supports_audio: bool = False
    """Takes audio clips (``AudioPart``) in user messages and tool results."""
    max_document_bytes: int | None = None
    """The most document bytes one request may carry inline, all documents together
    (checked before sending; ``None``: no limit known)."""
    max_audio_bytes: int | None = None
    """The most audio bytes one request may carry, all clips together (``None``: no limit)."""
    audio_formats: frozenset[str] | None = None
    """The audio formats the server takes (OpenAI: ``wav``, ``mp3``); ``None``: any."""
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
    media_style: Literal["openai", "mistral"] = "openai"
    """How documents and audio are encoded: ``openai`` as ``file`` parts (``file_data`` as
    a data URL, or ``file_id``) and ``input_audio`` ``{"data", "format"}``; ``mistral`` as
    ``document_url`` / ``file`` (``file_id``) chunks and ``input_audio`` as base64 text."""
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
    """``False``: a streamed request that offers tools is sent unstreamed (its deltas are
    made from the whole answer); llama.cpp cannot stream a tool call the model chose itself."""
    retry_text_without_tools: bool = False
    """When tools went with ``tool_choice: "auto"``, the request allowed a text answer, and
    the answer is empty (no text, no tool call), the response carries a ``follow_up``: the
    same request without the tools, to get the text. For servers that grammar-restrict the
    answer under ``"auto"`` to a tool call (llama.cpp: a text answer always comes back
    empty). The loop sends the follow-up as one more request of the run."""
    retry_required_with_output_tool: bool = False
    """When the request required a tool call but the wire could only say ``"auto"``
    (``tool_choice_required`` is ``None``), the final-result tool (``OutputSpec`` in
    ``tool`` mode) is offered, and the answer is empty, the response carries a
    ``follow_up`` naming the final-result tool: the model chose to answer, and the tool's
    arguments are its answer. The loop sends it as one more request of the run."""
    unescape_html: bool = False
    """Undo HTML escaping in the answer's text and tool-call arguments (``&#34;`` -> ``"``,
    also doubly escaped): for servers whose chat template renders with autoescape, so the
    model sees and copies entities (llama-cpp-python's ``chatml-function-calling``)."""
    send_thinking: Literal["none", "mistral", "reasoning_content"] = "none"
    """How thinking in the history (``ThinkingPart``) is sent back: ``mistral``, as
    ``{"type": "thinking", "thinking": [{"type": "text", ...}]}`` chunks leading the
    assistant's content list (Mistral's reasoning models); ``reasoning_content``, as that
    field of the assistant message (DeepSeek-style servers that want it back); ``none``,
    not at all (most servers refuse or ignore it). Only thinking made by this profile's
    ``provider`` (or of unknown origin) is sent; it is never sent as answer text."""
    template_tokens: tuple[str, ...] = ()
    """Chat-template tokens that leak into answers (``<|im_start|>``, ``<end_of_turn>``...):
    a leading one (and the role after it) is dropped, and the text is cut at the next one,
    where the model starts writing the next turn itself. Streamed text is cleaned too."""
    reasoning_levels: tuple[str, ...] = ()
    """The ``ModelSettings.reasoning`` levels the model accepts, sent as
    ``reasoning_effort``; empty: the model does not reason, and the setting is not sent.
    A level not listed is refused (``ConfigurationError``) before anything is sent."""
    system_role: Literal["system", "developer"] = "system"
    """The role instructions are sent under (OpenAI's reasoning models: ``developer``)."""
    supports_prompt_cache_key: bool = False
    """Accepts ``prompt_cache_key`` (Mistral, OpenAI): sent from ``ModelSettings`` or, in a
    run on a session, derived from the session's id."""
    supports_guardrails: bool = False
    """Accepts Mistral's ``guardrails`` (moderation of the request before the model sees
    it); a request with ``ModelSettings.guardrails`` to a profile without it is refused."""

    def with_changes(self, **changes: Any) -> ModelProfile:
        """A copy with some fields changed."""
        return replace(self, **changes)


MistralGuardrailCategory = Literal[
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous",
    "criminal",
    "dangerous_and_criminal_content",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
    "jailbreaking",
]

_GUARDRAIL_CATEGORIES: dict[str, frozenset[str]] = {
    "v2": frozenset(get_args(MistralGuardrailCategory)) - {"dangerous_and_criminal_content"},
    "v1": frozenset(get_args(MistralGuardrailCategory)) - {"dangerous", "criminal", "jailbreaking"},
}
"""The categories of each moderation version (v1 has one for dangerous and criminal
content, and none for jailbreaking)."""


@dataclass(frozen=True, slots=True)
class MistralGuardrail:
    """One of Mistral's guardrails: its moderation model checks the request's input before
    the model sees it, and blocks the request when a category's score passes its threshold.

    ``moderation``: ``"v2"`` (``moderation_llm_v2``, Mistral Moderation 2, with
    ``jailbreaking``) or ``"v1"`` (``moderation_llm_v1``). ``thresholds``: a score from 0
    to 1 per category (Mistral's defaults for the rest, unless ``only_listed``).
    ``block``: ``False`` only scores (Mistral's ``action: "none"``). ``block_on_error``:
    block the request when the moderation itself fails (else it goes through).
    """

    moderation: Literal["v1", "v2"] = "v2"
    thresholds: Mapping[MistralGuardrailCategory, float] | None = None
    only_listed: bool = False
    block: bool = True
    block_on_error: bool = False

    def __post_init__(self) -> None:
        known = _GUARDRAIL_CATEGORIES.get(self.moderation)
        if known is None:
            raise ConfigurationError(
                f"MistralGuardrail(moderation={self.moderation!r}) is not one of 'v1', 'v2'."
            )
        for category, threshold in (self.thresholds or {}).items():
            if category not in known:
                raise ConfigurationError(
                    f"MistralGuardrail: {category!r} is not a category of Mistral's moderation "
                    f"{self.moderation}; its categories are {', '.join(sorted(known))}."
                )
            if isinstance(threshold, bool) or not 0 <= threshold <= 1:
                raise ConfigurationError(
                    f"MistralGuardrail: the threshold of {category!r} is {threshold!r}; thresholds "
                    "are scores from 0 to 1."
                )

    def wire(self) -> dict[str, Any]:
        """This guardrail as one entry of Mistral's ``guardrails`` list."""
        moderation: dict[str, Any] = {"action": "block" if self.block else "none"}
        if self.thresholds:
            moderation["custom_category_thresholds"] = dict(self.thresholds)
        if self.only_listed:
            moderation["ignore_other_categories"] = True
        return {
            "block_on_error": self.block_on_error,
            f"moderation_llm_{self.moderation}": moderation,
        }


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
    reasoning: ReasoningLevel | None = None
    """How hard a reasoning model thinks (``"none"`` ... ``"high"``), sent as the
    provider's ``reasoning_effort``; refused before sending for a level the model lacks
    (``ModelProfile.reasoning_levels``), left out for models that do not reason."""
    prompt_cache_key: str | None = None
    """Routes requests sharing a prompt prefix to the same cache (Mistral, OpenAI). A run on
    a session gets a stable key made from the session's id unless this is set."""
    prediction: str | None = None
    """The text the answer is expected to be mostly (predicted output: an edit of a known
    file answers faster); sent where the profile does not refuse it."""
    guardrails: MistralGuardrail | tuple[MistralGuardrail, ...] | None = None
    """Mistral's moderation of the request (``MistralGuardrail``); a blocked request raises
    ``ContentFilteredError`` with Mistral's reason. Refused for profiles without
    ``supports_guardrails``."""
    extra_body: Mapping[str, Any] | None = None
    """Extra JSON fields merged into the request body as they are."""

    def merged(self, override: ModelSettings | None) -> ModelSettings:
        """These settings with every field set in ``override`` taking precedence."""
        if override is None:
            return self
        changes = {}
        for name in _SETTING_NAMES:  # once per request: no fields() call, one getattr each
            value = getattr(override, name)
            if value is not None:
                changes[name] = value
        return replace(self, **changes) if changes else self


_SETTING_NAMES = tuple(f.name for f in fields(ModelSettings))


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """Everything one model request needs, provider-neutral."""

    messages: Sequence[Message]
    tools: Sequence[ToolDefinition] = ()
    output: OutputSpec | None = None
    tool_choice: ToolChoice | None = None
    settings: ModelSettings = field(default_factory=ModelSettings)
    stream: bool = False
    """Whether the caller shows deltas as they arrive; when false a model answers whole."""


@dataclass(frozen=True, slots=True)
class ModelFallback:
    """One switch of a ``FallbackModel``: ``from_model`` failed with ``error`` (before
    sending any delta) and the request went on to ``to_model``."""

    from_model: str
    to_model: str
    error: ModelAPIError


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """A complete model answer: the assistant message and this request's usage."""

    message: AssistantMessage
    usage: Usage
    finish_reason: str | None = None
    model_name: str | None = None
    response_id: str | None = None
    follow_up: ModelRequest | None = None
    """A request the model asks the loop to send next, in place of acting on this
    (empty) answer: a server quirk's workaround, counted as a request of its own."""
    fallbacks: tuple[ModelFallback, ...] = ()
    """The models that failed before this one answered (a ``FallbackModel``'s switches);
    the loop reports each as a ``ModelFallbackEvent``."""
    warnings: tuple[str, ...] = ()
    """What was odd but usable in the answer (usage counts clamped, ...); the loop
    reports each as a ``ModelWarningEvent``."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of assistant text, as it streams."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of the model's thinking, as it streams (never part of the answer)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call, as it streams; ``index`` says which call of the turn."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


ModelStreamEvent = TextDelta | ThinkingDelta | ToolCallDelta | ModelResponse


@runtime_checkable
class Model(Protocol):
    """A chat model the loop can drive: one streaming primitive and a lifecycle.

    ``async with model:`` keeps the model's connections open until the block ends
    (entries nest; the last exit closes them); ``aclose()`` closes them at once. A
    closed model opens new connections on its next use. The agent enters its model for
    each run (or once, under ``async with agent:``), unless the model is ``loop_scoped``
    (``loop_scoped()`` below): then runs share what it opens on their event loop, and it
    closes that when the loop ends.
    """

    @property
    def name(self) -> str:
        """The model's name as sent to the server."""
        ...

    @property
    def profile(self) -> ModelProfile:
        """Capabilities, limits, prices and dialect."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """Send one request: deltas as they arrive (optional), then the ``ModelResponse``."""
        ...

    async def aclose(self) -> None:
        """Close the connections this model opened (never a client you passed in)."""
        ...

    async def __aenter__(self) -> Self:
        """Hold the model's connections open until the matching exit."""
        ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Release this entry; the last one closes the connections."""
        ...


def loop_scoped(resource: object) -> bool:
    """Whether ``resource`` (a model) keeps what it opens for as long as the event loop
    runs, shared by every run on the loop (its ``loop_scoped`` attribute, default false).
    A run holds a model that is not open while it runs (``async with model:``) instead.
    """
    return getattr(resource, "loop_scoped", False) is True


class ModelLifecycle:
    """The lifecycle of ``Model`` for models that hold nothing (or close in ``aclose``).

    Entries are counted: ``aclose()`` runs when the last ``async with`` exits.
    """

    _entered: int = 0

    async def aclose(self) -> None:
        """Nothing to close; subclasses that open connections close them here."""

    async def __aenter__(self) -> Self:
        """Hold the model open until the matching exit."""
        self._entered += 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Release this entry; the last one closes the model."""
        self._entered -= 1
        if self._entered == 0:
            with anyio.CancelScope(shield=True):
                await self.aclose()


async def complete(model: Model, request: ModelRequest) -> ModelResponse:
    """Send ``request`` and return the complete answer: the end of the model's stream.

    Public for code that drives a ``Model`` without an ``Agent``: a script or test calling
    a model once, a custom ``Model`` wrapping another, MCP sampling. The loop itself sends
    through this function (or ``stream_events``), so a model is driven the same way
    everywhere.
    """
    response: ModelResponse | None = None
    events = model.stream(request)
    try:
        async for event in events:
            if isinstance(event, ModelResponse):
                response = event
    finally:
        await _close(events)
    if response is None:
        raise ModelAPIError(
            f"Model {model.name!r} ended its answer without a response; a Model's stream() "
            "must yield a ModelResponse last.",
            model_name=model.name,
        )
    return response


async def stream_events(model: Model, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
    """The model's stream, with deltas made from the whole answer if it sent none.

    Public for code that drives a ``Model`` without an ``Agent`` and wants its deltas:
    it yields ``ThinkingDelta``, ``TextDelta`` and ``ToolCallDelta`` events, then the
    ``ModelResponse``,
    whether or not the model (or its server) streamed.
    """
    seen_delta = answered = False
    events = model.stream(request)
    try:
        async for event in events:
            if answered:  # past its response: not given out (the model is closed below)
                break
            if isinstance(event, ModelResponse):
                if not seen_delta:
                    for delta in _response_deltas(event):
                        yield delta
                yield event
                # Read on (as complete() does): the model's stream ends after its
                # response, so there is nothing to close, no shielded scope per request.
                answered = True
                continue
            seen_delta = True
            yield event
    finally:
        await _close(events)
    if answered:
        return
    raise ModelAPIError(
        f"Model {model.name!r} ended its stream without a response; a Model's stream() "
        "must yield a ModelResponse last.",
        model_name=model.name,
    )


def _response_deltas(response: ModelResponse) -> list[TextDelta | ThinkingDelta | ToolCallDelta]:
    """A complete answer as the deltas a stream would have sent: its thinking (a delta a
    part), text word by word, each tool call's name, then its arguments in up to three
    pieces."""
    message = response.message
    deltas: list[TextDelta | ThinkingDelta | ToolCallDelta] = []
    deltas.extend(ThinkingDelta(part.text) for part in message.thinking if part.text)
    if message.content:
        words = message.content.split(" ")
        last = len(words) - 1
        deltas.extend(TextDelta(word if i == last else word + " ") for i, word in enumerate(words))
    for index, call in enumerate(message.tool_calls):
        deltas.append(ToolCallDelta(index=index, id=call.id, name=call.name))
        args = call.arguments
        step = max(len(args) // 3, 1)
        deltas.extend(
            ToolCallDelta(index=index, arguments=args[start : start + step])
            for start in range(0, len(args), step)
        )
    return deltas


async def _close(events: AsyncIterator[Any]) -> None:
    """Close a model's stream, shielded (its cleanup runs even when the run is cancelled).

    An async generator that has already run to its end (or was closed) has nothing to
    close: its ``aclose()`` would return at once, so it is not called (nor the shield
    entered), which is what an answer read to its end always is."""
    if type(events) is AsyncGeneratorType and events.ag_frame is None:
        return
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with anyio.CancelScope(shield=True):
            await aclose()
