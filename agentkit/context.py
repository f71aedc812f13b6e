"""Token counting and the context window: what is sent always fits, and never splits a
tool call from its result.

``count_tokens(messages, tools, model=...)`` counts a request's input. For Mistral
profiles (``provider == "mistral_ai"``) it uses Mistral's Tekken tokenizer from
``mistral-common`` (the ``mistral`` extra), offline, from the vocabulary that package
bundles: close to, not exactly, Mistral Small 3.2's (mistral-common ships no Small 3.2
tokenizer file), so each message gets a margin for its control tokens and JSON framing.
Without ``mistral-common``, and for other profiles, the count is an estimate that errs
on the high side: one token per UTF-8 byte of the message as it is framed (byte-level
BPE tokenizers never make more tokens than bytes), plus the same margins. The
tokenizer is loaded once per process, on first use (about a second); the count of each
message is cached, so counting a long history again costs a lookup per message.

``ContextWindow`` is the hook that fits each request: when the counted input plus the
request's ``max_tokens`` passes the profile's ``context_window``, the request sent
leaves out the oldest whole turns (a turn starts at a user message, so an assistant's
tool calls and their results go together), always keeping the system instructions and
the current turn. The run's messages and its session keep everything. Agents add one
by default for models whose profile has a ``context_window``.

A ``FallbackModel`` is fitted model by model: its profile's window is the largest of its
chain (the bound usage limits check), so the hook hands it the request whole, as a
``FittableRequest``, and each model it tries gets the request fitted to its own window,
by the same rules, just before it is sent (a ``ContextTrimmedEvent`` for each one
trimmed; under ``policy="error"`` the model it does not fit raises).
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from agentkit._errors import ContextWindowExceededError
from agentkit.events import ContextTrimmedEvent
from agentkit.hooks import Hooks, RequestHandler, RunInfo
from agentkit.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    SystemMessage,
    UserMessage,
)
from agentkit.models.base import Model, ModelProfile, ModelRequest, ModelResponse, ModelSettings
from agentkit.tools import ToolDefinition

if TYPE_CHECKING:
    from agentkit.models.fallback import FallbackModel

__all__ = [
    "CALL_MARGIN",
    "DEFAULT_WINDOW",
    "IMAGE_TOKENS",
    "MESSAGE_MARGIN",
    "REQUEST_MARGIN",
    "ContextPolicy",
    "ContextWindow",
    "count_tokens",
    "window_hooks",
]

ContextPolicy = Literal["trim", "error"]
"""What ``ContextWindow`` does with a request that does not fit: leave out the oldest
turns (``"trim"``), or raise ``ContextWindowExceededError`` (``"error"``)."""

MESSAGE_MARGIN = 8
"""Tokens added per message for its role's control tokens."""
CALL_MARGIN = 8
"""Tokens added per tool call (and per tool result) for its JSON framing."""
REQUEST_MARGIN = 16
"""Tokens added per request (BOS, instruction markers, the tools' framing)."""
IMAGE_TOKENS = 4_200
"""Tokens one image may take (Pixtral's ceiling, as ``agentkit.limits`` counts it)."""
_CACHE_SIZE = 100_000
"""Messages whose count is kept per scheme (the cache is emptied when it is full)."""


@functools.cache
def _tekken() -> Callable[[str], int] | None:
    """The Tekken tokenizer's text encoder (loaded once), or ``None`` without mistral-common."""
    try:
        module = importlib.import_module("mistral_common.tokens.tokenizers.mistral")
    except ImportError:
        return None
    tokenizer = module.MistralTokenizer.v3(is_tekken=True).instruct_tokenizer.tokenizer

    def encode(text: str) -> int:
        return len(tokenizer.encode(text, bos=False, eos=False))

    return encode


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


class _Counter:
    """Counts messages with one text measure, caching the count of each message."""

    __slots__ = ("cache", "measure")

    def __init__(self, measure: Callable[[str], int]) -> None:
        self.measure = measure
        self.cache: dict[Any, int] = {}

    def message(self, message: Message) -> int:
        try:
            return self.cache[message]
        except KeyError:
            pass
        except TypeError:  # unhashable content: count it every time
            return self._count(message)
        count = self._count(message)
        if len(self.cache) >= _CACHE_SIZE:
            self.cache.clear()
        self.cache[message] = count
        return count

    def _count(self, message: Message) -> int:
        measure = self.measure
        count = MESSAGE_MARGIN
        if isinstance(message, SystemMessage):
            count += measure(message.content)
        elif isinstance(message, UserMessage):
            if isinstance(message.content, str):
                count += measure(message.content)
            else:
                for part in message.content:
                    if isinstance(part, ImagePart):
                        count += IMAGE_TOKENS
                    else:
                        count += measure(part.text)
        elif isinstance(message, AssistantMessage):
            count += measure(message.content or "")
            for thought in message.thinking:  # counted even where it is not sent: from above
                count += measure(thought.text) + CALL_MARGIN
            for call in message.tool_calls:
                framed = json.dumps({"name": call.name, "arguments": _arguments(call.arguments)})
                count += measure(framed) + measure(call.id) + CALL_MARGIN
        else:
            framed = json.dumps({"content": message.content, "call_id": message.tool_call_id})
            count += measure(framed) + measure(message.name) + CALL_MARGIN
            count += IMAGE_TOKENS * len(message.images)
        return count

    def tools(self, tools: Sequence[ToolDefinition]) -> int:
        if not tools:
            return 0
        listed = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in tools
        ]
        return self.measure(json.dumps(listed)) + CALL_MARGIN * len(tools)


def _arguments(text: str) -> Any:
    """Parsed arguments, re-dumped as the tokenizer frames them (``json.dumps``, spaced),
    or the raw text when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@functools.cache
def _counter(exact: bool) -> _Counter:
    encode = _tekken() if exact else None
    return _Counter(encode if encode is not None else _utf8)


def _profile_of(model: Model | ModelProfile | str | None) -> ModelProfile | None:
    if model is None or isinstance(model, ModelProfile):
        return model
    if isinstance(model, str):
        from agentkit.models.profiles import profile_for

        return profile_for(model)
    return model.profile


def _counter_for(profile: ModelProfile | None) -> _Counter:
    return _counter(profile is not None and profile.provider == "mistral_ai")


def count_tokens(
    messages: Sequence[Message],
    tools: Sequence[ToolDefinition] = (),
    *,
    model: Model | ModelProfile | str | None = None,
) -> int:
    """The input tokens of a request with ``messages`` and ``tools``, counted from above.

    ``model`` (a ``Model``, its ``ModelProfile`` or a model name) picks the measure:
    Mistral's Tekken tokenizer for Mistral profiles when ``mistral-common`` is installed
    (from the vocabulary it bundles, which is close to, not exactly, Mistral Small 3.2's:
    each message gets a margin for that), else one token per UTF-8 byte, which is never
    fewer than a byte-level BPE tokenizer makes. Counts are cached per message.
    """
    counter = _counter_for(_profile_of(model))
    return REQUEST_MARGIN + counter.tools(tools) + sum(counter.message(m) for m in messages)


def _length_bound(message: Message) -> int:
    """An upper bound of a message's tokens from its lengths (see ``_surely_fits``)."""
    if isinstance(message, SystemMessage):
        return 4 * len(message.content)
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return 4 * len(message.content)
        return sum(
            IMAGE_TOKENS if isinstance(part, ImagePart) else 4 * len(part.text)
            for part in message.content
        )
    if isinstance(message, AssistantMessage):
        thinking = sum(4 * len(part.text) + CALL_MARGIN for part in message.thinking)
        return (
            thinking
            + 4 * len(message.content or "")
            + sum(
                12 * (len(call.name) + len(call.arguments)) + 4 * len(call.id) + 64 + CALL_MARGIN
                for call in message.tool_calls
            )
        )
    return (
        12 * (len(message.content) + len(message.tool_call_id))
        + 4 * len(message.name or "")
        + 64
        + CALL_MARGIN
        + IMAGE_TOKENS * len(message.images)
    )


def _max_tokens(model: Model, request: ModelRequest) -> int:
    own = getattr(model, "settings", None)
    settings = own.merged(request.settings) if isinstance(own, ModelSettings) else request.settings
    return settings.max_tokens or model.profile.max_output_tokens


_CHAIN_CLASS: list[type[FallbackModel]] = []
"""``FallbackModel``, once its module is loaded (``import agentkit`` does not load it)."""


def _is_chain(model: Model) -> TypeGuard[FallbackModel]:
    """Whether ``model`` is a ``FallbackModel``: none exists before its module is loaded,
    so the module is looked up, never imported, and the class is kept once found."""
    if not _CHAIN_CLASS:
        module = sys.modules.get("agentkit.models.fallback")
        if module is None:
            return False
        _CHAIN_CLASS.append(module.FallbackModel)
    return isinstance(model, _CHAIN_CLASS[0])


def _has_window(model: Model) -> bool:
    """Whether ``model``, or any model of its chain, has a context window."""
    if _is_chain(model):
        return any(_has_window(m) for m in model.models)
    return model.profile.context_window is not None


def _fields(request: ModelRequest) -> dict[str, Any]:
    """What ``request`` holds as a plain ``ModelRequest`` (a ``FittableRequest`` less its
    fitter)."""
    return {f.name: getattr(request, f.name) for f in fields(ModelRequest)}


def _current_start(messages: Sequence[Message], new_index: int) -> int:
    """Where the current turn starts: the last user message at or before the run's first
    new message (a resumed turn keeps the prompt that began it), else the run's start."""
    for i in range(min(new_index, len(messages) - 1), -1, -1):
        if isinstance(messages[i], UserMessage):
            return i
    return min(new_index, len(messages))


class ContextWindow(Hooks):
    """Fits every model request into the model's context window (see the module docs).

    ``policy="trim"`` (the default) leaves the oldest whole turns out of what is sent
    and reports a ``ContextTrimmedEvent``; ``policy="error"`` raises
    ``ContextWindowExceededError`` instead. Either way a request whose system
    instructions and current turn alone do not fit is never sent: it raises
    ``ContextWindowExceededError``. ``context_window`` overrides the profile's (each
    model's, for a ``FallbackModel``, whose models are fitted one by one).
    """

    def __init__(self, policy: ContextPolicy = "trim", *, context_window: int | None = None):
        if policy not in ("trim", "error"):
            raise ValueError(f"policy must be 'trim' or 'error', got {policy!r}")
        self.policy = policy
        self.context_window = context_window
        self._bounds: dict[int, tuple[Any, int]] = {}
        """Length bounds of tool definitions and schemas, by identity (at most 64)."""

    def __repr__(self) -> str:
        return f"ContextWindow(policy={self.policy!r}, context_window={self.context_window!r})"

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        """Send ``request``, or the same request without its oldest turns when it does not fit."""
        fitted = self.fit(run, request)
        return await handler(fitted)

    def _surely_fits(self, request: ModelRequest, limit: int) -> bool:
        """Whether an upper bound of the count, from lengths alone, is within ``limit``.

        A token is at least one UTF-8 byte, a character at most 4 bytes, and JSON framing
        (``ensure_ascii`` escapes, spacing) at most 12 characters per character plus a
        fixed frame: so ``4 x`` a text's length bounds its tokens, ``12 x`` a framed one's.
        """
        bound = REQUEST_MARGIN + self._framed_bound(request.tools)
        output = request.output
        if output is not None and output.mode == "native":
            bound += self._framed_bound(output.schema) + CALL_MARGIN
        for message in request.messages:
            bound += MESSAGE_MARGIN + _length_bound(message)
            if bound > limit:
                return False
        return bound <= limit

    def _framed_bound(self, value: Any) -> int:
        """12 x the JSON length of tool definitions or a schema, cached by identity (the
        plan's objects are the same on every request)."""
        if not value:
            return 0
        key = id(value)
        cached = self._bounds.get(key)
        if cached is not None and cached[0] is value:
            return cached[1]
        if isinstance(value, Mapping):
            text = json.dumps(dict(value))
        else:
            text = json.dumps(
                [[t.name, t.description, dict(t.parameters)] for t in value], default=str
            )
            text += " " * (64 * len(value))  # each definition's frame
        bound = 12 * len(text) + CALL_MARGIN * (len(value) if not isinstance(value, Mapping) else 1)
        if len(self._bounds) >= 64:
            self._bounds.clear()
        self._bounds[key] = (value, bound)
        return bound

    def fit(self, run: RunInfo, request: ModelRequest) -> ModelRequest:
        """``request`` as it is when it fits, else trimmed (or an error, per the policy);
        for a ``FallbackModel``, a ``FittableRequest`` that fits it to each model it tries."""
        return self._fit_to(run, run.model, request)

    def _fit_to(self, run: RunInfo, model: Model, request: ModelRequest) -> ModelRequest:
        """``request`` fitted to ``model``'s context window (see ``fit``); reports a
        ``ContextTrimmedEvent`` on ``run`` when it trims."""
        if _is_chain(model):
            from agentkit.models.fallback import FittableRequest

            if isinstance(request, FittableRequest):  # a chain inside a chain
                return request
            return FittableRequest(**_fields(request), fit=functools.partial(self._fit_to, run))
        if type(request) is not ModelRequest:  # what the chain's model gets: no fitter
            request = ModelRequest(**_fields(request))
        window = self.context_window or model.profile.context_window
        if window is None:
            return request
        limit = window - _max_tokens(model, request)
        if self._surely_fits(request, limit):  # most requests: no tokenizer needed
            return request
        counter = _counter_for(model.profile)
        messages = request.messages
        counts = [counter.message(m) for m in messages]
        fixed = REQUEST_MARGIN + counter.tools(request.tools)
        if request.output is not None and request.output.mode == "native":
            fixed += counter.measure(json.dumps(dict(request.output.schema))) + CALL_MARGIN
        total = fixed + sum(counts)
        if total <= limit:
            return request
        head = 0
        while head < len(messages) and isinstance(messages[head], SystemMessage):
            head += 1
        current = max(head, _current_start(messages, run.new_message_index))
        kept = fixed + sum(counts[:head]) + sum(counts[current:])
        if self.policy == "error" or kept > limit:
            why = (
                "the context policy is 'error'"
                if self.policy == "error" and kept <= limit
                else "its system instructions and current turn alone are that long"
            )
            raise ContextWindowExceededError(
                f"The request counts {total} input tokens, and {limit} fit ({window} in the "
                f"context window of {model.name!r} less max_tokens), and it cannot be "
                f"trimmed: {why}. Nothing was sent to {model.name!r}. Shorten the prompt or "
                "the tool results, lower max_tokens, or use ContextWindow(policy='trim').",
                input_tokens=total,
                limit=limit,
            )
        # Turns of the older part start at user messages; drop the oldest until it fits.
        starts = [i for i in range(head, current) if isinstance(messages[i], UserMessage)]
        cut = current
        budget = limit - kept
        for start in reversed(starts):
            size = sum(counts[start:cut])
            if size > budget:
                break
            budget -= size
            cut = start
        sent = [*messages[:head], *messages[cut:]]
        input_tokens = limit - budget
        run.report(ContextTrimmedEvent(dropped=cut - head, input_tokens=input_tokens, limit=limit))
        return replace(request, messages=sent)


DEFAULT_WINDOW = ContextWindow()
"""The window every agent run fits its requests into, unless its hooks bring their own."""


def window_hooks(model: Model, hooks: Sequence[Hooks]) -> list[Hooks]:
    """``[DEFAULT_WINDOW]`` when the model (or a model of its chain) has a context window
    and no hook fits requests already; else nothing."""
    if not _has_window(model) or any(isinstance(h, ContextWindow) for h in hooks):
        return []
    return [DEFAULT_WINDOW]
