"""The context window: what is sent always fits, and never splits a tool call from its
result.

``ContextWindow`` is the hook that fits each request: when the counted input (see
``count_tokens``, in ``agentkit.tokens``) plus the request's ``max_tokens`` passes the
profile's ``context_window``, the request is fitted by its policy, always keeping the
system instructions and the current turn, and never splitting a turn (a turn starts at
a user message, so an assistant's tool calls and their results go together). The run's
messages and its session keep everything. Agents add one by default for models whose
profile has a ``context_window``.

- ``policy="trim"`` (the default) leaves the oldest whole turns out of what is sent.
- ``policy="error"`` raises ``ContextWindowExceededError``.
- ``policy="compact"`` replaces the oldest whole turns, in what is sent, by one summary
  message (a user message right after the system messages) written by the summarizer (a
  model, a model name or an agent; the run's own model by default). The summary is kept
  (by the hook, and with the session when the run has one that stores summaries) and
  reused by every later request, of this run or a later one, whose history begins with
  the messages it covers; a new one, folding the old one in, is written only when the
  window overflows again. It leaves the request at about ``compact_to`` of the window,
  so that the next turns have room. The summarizer's requests are checked against the
  run's budget and counted in its usage; when it fails the request is trimmed instead
  (a ``ContextSummaryFailedEvent``, then a ``ContextTrimmedEvent``).

``tool_result_cap`` (any policy) cuts long tool results in what is sent to their first
and last characters, with a note saying how much was cut.

A ``FallbackModel`` is fitted model by model: its profile's window is the largest of its
chain (the bound usage limits check), so the hook hands it the request whole, as a
``FittableRequest``, and each model it tries gets the request fitted to its own window,
by the same rules, just before it is sent (a ``ContextTrimmedEvent`` for each one
trimmed; under ``policy="error"`` the model it does not fit raises). Under
``policy="compact"`` the summary is written for the chain's (largest) window, and each
model trims the compacted request further if it must.
"""

from __future__ import annotations

import functools
import json
import sys
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from agentkit._errors import ContextWindowExceededError, SessionStoreError
from agentkit.events import ContextCompactedEvent, ContextSummaryFailedEvent, ContextTrimmedEvent
from agentkit.hooks import Hooks, RequestHandler, RunInfo
from agentkit.limits import _max_tokens
from agentkit.messages import Message, SystemMessage, ToolMessage, UserMessage
from agentkit.models.base import Model, ModelRequest, ModelResponse
from agentkit.summary import (
    SUMMARY_PREFIX,
    ContextSummary,
    Digests,
    Summarizer,
    cap_text,
    summary_message,
    write_summary,
)
from agentkit.tokens import (
    CALL_MARGIN,
    IMAGE_TOKENS,
    MESSAGE_MARGIN,
    REQUEST_MARGIN,
    _Counter,
    _counter_for,
    _length_bound,
    _utf8,
    count_tokens,
)

if TYPE_CHECKING:
    from agentkit.models.fallback import FallbackModel

__all__ = [
    "CALL_MARGIN",
    "DEFAULT_WINDOW",
    "IMAGE_TOKENS",
    "MESSAGE_MARGIN",
    "REQUEST_MARGIN",
    "ContextPolicy",
    "ContextSummary",
    "ContextWindow",
    "count_tokens",
    "window_hooks",
]

ContextPolicy = Literal["trim", "error", "compact"]
"""What ``ContextWindow`` does with a request that does not fit: leave out the oldest
turns (``"trim"``), raise ``ContextWindowExceededError`` (``"error"``), or replace the
oldest turns by a summary (``"compact"``)."""

_POLICIES = ("trim", "error", "compact")
_RECENT = 256
"""Summaries a compacting hook keeps (the newest), and capped tool results it reuses."""


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


@dataclass(slots=True)
class _Measured:
    """A request that does not fit, counted: its messages' counts, what every request
    has (the margin, tools, output schema), and where its kept parts are."""

    counter: _Counter
    window: int
    limit: int
    counts: list[int]
    fixed: int
    head: int
    """The leading messages always kept (system messages, a summary)."""
    current: int
    """Where the current turn starts (always kept)."""

    @property
    def total(self) -> int:
        return self.fixed + sum(self.counts)

    def kept(self, start: int) -> int:
        """The count of the head and the messages from ``start`` on."""
        return self.fixed + sum(self.counts[: self.head]) + sum(self.counts[start:])


def _refuse(model: Model, fit: _Measured, *, policy: str) -> ContextWindowExceededError:
    kept = fit.kept(fit.current)
    why = (
        "the context policy is 'error'"
        if policy == "error" and kept <= fit.limit
        else "its system instructions and current turn alone are that long"
    )
    return ContextWindowExceededError(
        f"The request counts {fit.total} input tokens, and {fit.limit} fit ({fit.window} in "
        f"the context window of {model.name!r} less max_tokens), and it cannot be "
        f"trimmed: {why}. Nothing was sent to {model.name!r}. Shorten the prompt or "
        "the tool results (ContextWindow(tool_result_cap=...)), lower max_tokens, or use "
        "ContextWindow(policy='trim').",
        input_tokens=fit.total,
        limit=fit.limit,
    )


class ContextWindow(Hooks):
    """Fits every model request into the model's context window (see the module docs).

    ``policy="trim"`` (the default) leaves the oldest whole turns out of what is sent
    and reports a ``ContextTrimmedEvent``; ``policy="error"`` raises
    ``ContextWindowExceededError`` instead; ``policy="compact"`` replaces them by a
    summary that ``summarizer`` writes (a ``Model``, a model name or an ``Agent``; the
    run's model when ``None``), at most ``summary_tokens`` long (by default an eighth of
    the window, at most 1,000), leaving the request at about ``compact_to`` of the
    window, and reports a ``ContextCompactedEvent``. Whatever the policy, a request whose
    system instructions and current turn alone do not fit is never sent: it raises
    ``ContextWindowExceededError``. ``context_window`` overrides the profile's (each
    model's, for a ``FallbackModel``, whose models are fitted one by one).

    ``tool_result_cap``: the most characters of a tool result sent, as an ``int`` for
    every tool or a mapping from tool names (``"*"`` for the others); a longer result is
    sent as its first and last halves with a note of how much was cut between them.
    ``result.messages`` and the session keep it whole.
    """

    def __init__(
        self,
        policy: ContextPolicy = "trim",
        *,
        context_window: int | None = None,
        summarizer: Summarizer = None,
        summary_tokens: int | None = None,
        compact_to: float = 0.5,
        tool_result_cap: int | Mapping[str, int] | None = None,
    ):
        if policy not in _POLICIES:
            raise ValueError(f"policy must be 'trim', 'error' or 'compact', got {policy!r}")
        if policy != "compact" and (summarizer is not None or summary_tokens is not None):
            raise ValueError(
                f"summarizer= and summary_tokens= are used by policy='compact' only, and the "
                f"policy is {policy!r}: pass ContextWindow(policy='compact', summarizer=...)."
            )
        if not 0.0 < compact_to < 1.0:
            raise ValueError(f"compact_to is a share of the window, in (0, 1), got {compact_to}")
        if summary_tokens is not None and summary_tokens < 16:
            raise ValueError(f"summary_tokens must be at least 16, got {summary_tokens}")
        caps = {"*": tool_result_cap} if isinstance(tool_result_cap, int) else tool_result_cap
        if caps is not None and any(
            not isinstance(v, int) or isinstance(v, bool) or v < 64 for v in caps.values()
        ):
            raise ValueError(
                f"tool_result_cap takes characters, at least 64 (an int, or a mapping from "
                f"tool names to ints), got {tool_result_cap!r}"
            )
        self.policy = policy
        self.context_window = context_window
        self.summarizer = summarizer
        self.summary_tokens = summary_tokens
        self.compact_to = compact_to
        self.tool_result_cap = tool_result_cap
        self._caps: dict[str, int] | None = None if caps is None else dict(caps)
        self._capped: dict[Any, Message] = {}
        """Tool messages as sent once capped (at most ``_RECENT``)."""
        self._bounds: dict[int, tuple[Any, int]] = {}
        """Length bounds of tool definitions and schemas, by identity (at most 64)."""
        self._summaries: OrderedDict[str, ContextSummary] = OrderedDict()
        """The newest summaries written or loaded, by digest (at most ``_RECENT``)."""
        self._digests = Digests()
        self._summarizer_model: Model | None = None

    def __repr__(self) -> str:
        more = ""
        if self.policy == "compact":
            more = f", summarizer={self.summarizer!r}"
        if self.tool_result_cap is not None:
            more += f", tool_result_cap={self.tool_result_cap!r}"
        return (
            f"ContextWindow(policy={self.policy!r}, context_window={self.context_window!r}{more})"
        )

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        """Send ``request``, or the same request fitted by the policy when it does not fit."""
        if self.policy == "compact":
            fitted = await self._compact(run, request)
        else:
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

    def _cap(self, request: ModelRequest) -> ModelRequest:
        """``request`` with its long tool results cut (``tool_result_cap``)."""
        caps = self._caps
        if caps is None:
            return request
        sent: list[Message] = []
        changed = False
        for message in request.messages:
            if isinstance(message, ToolMessage):
                cap = caps.get(message.name, caps.get("*"))
                if cap is not None and len(message.content) > cap:
                    message = self._capped_message(message, cap)
                    changed = True
            sent.append(message)
        return replace(request, messages=sent) if changed else request

    def _capped_message(self, message: ToolMessage, cap: int) -> Message:
        try:
            return self._capped[message]
        except (KeyError, TypeError):
            pass
        capped = message.model_copy(update={"content": cap_text(message.content, cap)})
        if len(self._capped) >= _RECENT:
            self._capped.clear()
        try:
            self._capped[message] = capped
        except TypeError:
            pass
        return capped

    def fit(self, run: RunInfo, request: ModelRequest) -> ModelRequest:
        """``request`` as it is when it fits, else trimmed (or an error, per the policy;
        ``"compact"``, which needs to await its summarizer, trims here); for a
        ``FallbackModel``, a ``FittableRequest`` that fits it to each model it tries."""
        return self._fit_to(run, run.model, request)

    def _fit_to(
        self, run: RunInfo, model: Model, request: ModelRequest, *, shift: int | None = None
    ) -> ModelRequest:
        """``request`` fitted to ``model``'s context window (see ``fit``); reports a
        ``ContextTrimmedEvent`` on ``run`` when it trims. ``shift``, when a summary leads
        ``request``'s conversation: how many messages fewer it has than the run's (the
        summary is kept, as the system messages are)."""
        if _is_chain(model):
            from agentkit.models.fallback import FittableRequest

            if isinstance(request, FittableRequest):  # a chain inside a chain
                return request
            fit = functools.partial(self._fit_to, run, shift=shift)
            return FittableRequest(**_fields(self._cap(request)), fit=fit)
        if type(request) is not ModelRequest:  # what the chain's model gets: no fitter
            request = ModelRequest(**_fields(request))
        request = self._cap(request)
        measured = self._measure(run, model, request, shift=shift)
        if measured is None:
            return request
        if self.policy == "error" or measured.kept(measured.current) > measured.limit:
            raise _refuse(model, measured, policy=self.policy)
        return self._trim(run, request, measured)

    def _measure(
        self, run: RunInfo, model: Model, request: ModelRequest, *, shift: int | None = None
    ) -> _Measured | None:
        """``None`` when ``request`` fits ``model``'s window (or it has none); else its counts."""
        window = self.context_window or model.profile.context_window
        if window is None:
            return None
        limit = window - _max_tokens(model, request)
        if self._surely_fits(request, limit):  # most requests: no tokenizer needed
            return None
        counter = _counter_for(model.profile)
        messages = request.messages
        counts = [counter.message(m) for m in messages]
        fixed = REQUEST_MARGIN + counter.tools(request.tools)
        if request.output is not None and request.output.mode == "native":
            fixed += counter.measure(json.dumps(dict(request.output.schema))) + CALL_MARGIN
        if fixed + sum(counts) <= limit:
            return None
        head = 0
        while head < len(messages) and isinstance(messages[head], SystemMessage):
            head += 1
        new_index = run.new_message_index
        if shift is not None and head < len(messages) and _is_summary(messages[head]):
            head += 1
            new_index -= shift
        current = max(head, _current_start(messages, new_index))
        return _Measured(counter, window, limit, counts, fixed, head, current)

    def _trim(self, run: RunInfo, request: ModelRequest, fit: _Measured) -> ModelRequest:
        """``request`` without its oldest turns, down to what fits."""
        messages, counts, head = request.messages, fit.counts, fit.head
        starts = [i for i in range(head, fit.current) if isinstance(messages[i], UserMessage)]
        cut = fit.current
        budget = fit.limit - fit.kept(fit.current)
        for start in reversed(starts):
            size = sum(counts[start:cut])
            if size > budget:
                break
            budget -= size
            cut = start
        sent = [*messages[:head], *messages[cut:]]
        input_tokens = fit.limit - budget
        event = ContextTrimmedEvent(dropped=cut - head, input_tokens=input_tokens, limit=fit.limit)
        run.report(event)
        return replace(request, messages=sent)

    # -- compaction ---------------------------------------------------------------------------

    async def _compact(self, run: RunInfo, request: ModelRequest) -> ModelRequest:
        """``request`` with its oldest turns replaced by a summary when it does not fit."""
        model = run.model
        if _is_chain(model):
            from agentkit.models.fallback import FittableRequest

            if isinstance(request, FittableRequest):
                return request
        compacted, shift = await self._compact_to(run, model, request)
        if _is_chain(model):  # each model of the chain trims it further if it must
            return self._fit_to(run, model, compacted, shift=shift)
        return compacted

    async def _compact_to(
        self, run: RunInfo, model: Model, request: ModelRequest
    ) -> tuple[ModelRequest, int | None]:
        """``request`` fitted by a summary, and how many messages fewer it has (``None``
        when no summary leads it)."""
        request = self._cap(request)
        fit = self._measure(run, model, request)
        if fit is None:
            return request, None
        messages, head, current = request.messages, fit.head, fit.current
        if fit.kept(current) > fit.limit:
            raise _refuse(model, fit, policy=self.policy)
        known = await self._known(run, messages, head, current)
        if known is not None:
            sent = self._with_summary(request, known, head)
            size = fit.counter.message(sent.messages[head])
            if fit.kept(head + known.covers) + size <= fit.limit:
                return sent, known.covers - 1
            if fit.kept(current) + size > fit.limit:  # with the current turn it never fits
                return self._trimmed(run, model, request, fit), None
        # The window overflows (again): summarize the oldest turns, folding in the summary.
        summary_tokens = self.summary_tokens or max(min(1_000, fit.limit // 8), 64)
        per_token = 1 if fit.counter.measure is not _utf8 else 4
        reserve = summary_tokens * per_token + fit.counter.measure(SUMMARY_PREFIX) + 64
        done = head + (known.covers if known is not None else 0)
        target = max(int(fit.limit * self.compact_to) - reserve, fit.kept(current))
        cut = current
        for start in range(current - 1, done - 1, -1):
            if isinstance(messages[start], UserMessage):
                if fit.kept(start) > target:
                    break
                cut = start
        if cut <= done:  # nothing new to summarize: only trimming can make it fit
            if known is None:
                return self._trimmed(run, model, request, fit), None
            shift = known.covers - 1
            with_summary = self._with_summary(request, known, head)
            return self._fit_to(run, model, with_summary, shift=shift), shift
        try:
            text = await write_summary(
                run,
                self._summarizer_for(run),
                known.text if known is not None else None,
                messages[done:cut],
                max_tokens=summary_tokens,
                caps=self._caps,
            )
        except Exception as exc:  # cancellation propagates; a failure trims instead
            run.report(ContextSummaryFailedEvent(error=f"{type(exc).__name__}: {exc}"))
            return self._trimmed(run, model, request, fit), None
        summary = ContextSummary(text, cut - head, self._digests.of(messages[head:cut]))
        self._remember(summary)
        await self._store(run, summary)
        sent = self._with_summary(request, summary, head)
        size = fit.counter.message(sent.messages[head])
        if fit.kept(current) + size > fit.limit:
            error = f"its summary counts {size} tokens: with the current turn it does not fit"
            run.report(ContextSummaryFailedEvent(error=error))
            return self._trimmed(run, model, request, fit), None
        counted = fit.kept(cut) + size
        run.report(
            ContextCompactedEvent(
                covered=cut - head,
                summarized=cut - done,
                summary=text,
                input_tokens=min(counted, fit.limit),
                limit=fit.limit,
            )
        )
        if counted > fit.limit:  # a summary longer than asked for: trim what follows it
            return self._fit_to(run, model, sent, shift=cut - head - 1), cut - head - 1
        return sent, cut - head - 1

    def _trimmed(
        self, run: RunInfo, model: Model, request: ModelRequest, fit: _Measured
    ) -> ModelRequest:
        """``request`` trimmed without a summary (by each model of a chain, for a chain)."""
        if _is_chain(model):
            return request
        return self._trim(run, request, fit)

    @staticmethod
    def _with_summary(request: ModelRequest, summary: ContextSummary, head: int) -> ModelRequest:
        messages = request.messages
        sent = [*messages[:head], summary_message(summary), *messages[head + summary.covers :]]
        return replace(request, messages=sent)

    def _summarizer_for(self, run: RunInfo) -> Any:
        """The summarizer: the run's model, a ``Model`` or an ``Agent`` as given, or the
        model a name names (built once)."""
        summarizer = self.summarizer
        if summarizer is None:
            return run.model
        if isinstance(summarizer, str):
            if self._summarizer_model is None:
                from agentkit.models.infer import infer_model

                self._summarizer_model = infer_model(summarizer)
            return self._summarizer_model
        return summarizer

    async def _known(
        self, run: RunInfo, messages: Sequence[Message], head: int, current: int
    ) -> ContextSummary | None:
        """The summary covering the most of ``messages[head:current]`` (whole turns) that
        this hook kept, or else that the run's session stored."""
        found = self._match(list(reversed(self._summaries.values())), messages, head, current)
        if found is not None:
            return found
        load = getattr(run.session, "load_summary", None)
        if load is None:
            return None
        stored = await load()
        if not isinstance(stored, ContextSummary):
            return None
        found = self._match([stored], messages, head, current)
        if found is not None:
            self._remember(found)
        return found

    def _match(
        self,
        candidates: Sequence[ContextSummary],
        messages: Sequence[Message],
        head: int,
        current: int,
    ) -> ContextSummary | None:
        """The candidate with the most ``covers`` whose digest is that of the messages it
        covers, ending at a turn's start (one pass over the messages)."""
        wanted: dict[int, list[ContextSummary]] = {}
        for summary in candidates:
            end = head + summary.covers
            if 0 < summary.covers and end <= current < len(messages):
                if not isinstance(messages[end], UserMessage):  # ends inside a turn
                    continue
                wanted.setdefault(summary.covers, []).append(summary)
        if not wanted:
            return None
        best: ContextSummary | None = None
        running = self._digests.running()
        last = max(wanted)
        for covers in range(1, last + 1):
            running.update(self._digests.message(messages[head + covers - 1]))
            if covers in wanted:
                digest = running.copy().hexdigest()
                for summary in wanted[covers]:
                    if summary.digest == digest:
                        best = summary
        return best

    def _remember(self, summary: ContextSummary) -> None:
        self._summaries[summary.digest] = summary
        self._summaries.move_to_end(summary.digest)
        while len(self._summaries) > _RECENT:
            self._summaries.popitem(last=False)

    async def _store(self, run: RunInfo, summary: ContextSummary) -> None:
        """Store ``summary`` with the run's session, if it stores summaries."""
        session = run.session
        save = getattr(session, "save_summary", None)
        if save is None:
            return
        try:
            await save(summary)
        except Exception as exc:
            raise SessionStoreError(
                f"The session {session!r} could not store the summary of the conversation's "
                f"first {summary.covers} messages ({type(exc).__name__}: {exc}). Nothing was "
                "sent; the conversation is in this error's .messages.",
                messages=list(run.messages),
            ) from exc


def _is_summary(message: Message) -> bool:
    """Whether ``message`` is a summary message of ``ContextWindow(policy="compact")``."""
    return (
        isinstance(message, UserMessage)
        and isinstance(message.content, str)
        and message.content.startswith(SUMMARY_PREFIX)
    )


DEFAULT_WINDOW = ContextWindow()
"""The window every agent run fits its requests into, unless its hooks bring their own."""


def window_hooks(model: Model, hooks: Sequence[Hooks]) -> list[Hooks]:
    """``[DEFAULT_WINDOW]`` when the model (or a model of its chain) has a context window
    and no hook fits requests already; else nothing."""
    if not _has_window(model) or any(isinstance(h, ContextWindow) for h in hooks):
        return []
    return [DEFAULT_WINDOW]
