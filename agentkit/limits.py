"""Usage limits as a hook: each request's worst case is checked before it is sent.

``UsageLimits`` (in ``agentkit.usage``) are given as ``Agent(..., usage_limits=...)`` or
per run as ``agent.run(..., usage_limits=...)``. The run adds ``UsageLimitsHook`` as
its innermost request hook, so it checks exactly what is sent (after every other hook).

The worst case of a request is an upper bound on what it can cost:

- **input tokens**: the UTF-8 length of the request as encoded for the wire (messages,
  tool definitions, output schema), plus ``MESSAGE_OVERHEAD`` tokens per message,
  ``TOOL_OVERHEAD`` per tool, ``REQUEST_OVERHEAD`` per request, ``IMAGE_TOKENS`` per
  image and ``attachment_tokens`` per document or audio clip beyond their inline bytes,
  capped by the profile's context window. Why bytes bound tokens: a byte-level
  BPE vocabulary (Mistral's Tekken, OpenAI's tiktoken) encodes every byte of text and
  each token covers at least one byte, so the text's tokens never outnumber its bytes;
  the wire JSON holds all that text (escaped, so longer) and the overheads cover the
  special tokens a chat template adds. A server whose template adds long prose of its
  own (llama.cpp's function-calling prompt) may count more; set ``REQUEST_OVERHEAD``
  budgets accordingly there. The test suite checks the bound against the Tekken tokenizer.
- **output tokens**: the request's ``max_tokens`` (the run's settings, else the model's,
  else the profile's ``max_output_tokens``): the server never generates more.
- **cost**: those tokens at the profile's prices (a ``FallbackModel``'s profile carries
  the most expensive price of its chain).

``tool_calls`` is checked before a turn's tools run (``Ledger.admit_tool_calls``): when
the turn's calls would pass the budget, none of them runs.

**One ledger per logical run.** A run keeps its budget in a ``Ledger``. An agent used as
a tool runs with a ledger whose ``parent`` is the calling run's, so its requests and tool
calls are checked against every budget above it before they happen, and counted in all
of them. A run resumed with ``usage=`` (a durable run after an approval wait, a run
resumed from a saved history) starts its ledger from that usage, so its limits span the
whole logical run. A response whose server reported no usage is charged at its
request's worst case, never as 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from agentkit._errors import ConfigurationError, UsageLimitExceeded
from agentkit.hooks import Hooks, RequestHandler, RunInfo
from agentkit.messages import (
    AudioPart,
    DocumentPart,
    ImagePart,
    Message,
    ToolMessage,
    UserMessage,
)
from agentkit.models.base import Model, ModelRequest, ModelResponse, ModelSettings
from agentkit.output import OUTPUT_TOOL_NAME
from agentkit.usage import Usage, UsageLimits

__all__ = [
    "DOCUMENT_TOKENS",
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD",
    "REQUEST_OVERHEAD",
    "TOOL_OVERHEAD",
    "Ledger",
    "UsageLimitsHook",
    "WorstCase",
    "attachment_tokens",
    "worst_case",
]

MESSAGE_OVERHEAD = 8
"""Tokens a chat template may add per message (role markers, ``[INST]``, ids...)."""
TOOL_OVERHEAD = 16
"""Tokens a chat template may add per tool definition."""
REQUEST_OVERHEAD = 32
"""Tokens a chat template may add per request (BOS, tool-list markers...)."""
IMAGE_TOKENS = 4_160
"""Tokens one image may take: Pixtral's ceiling (1024 x 1024 px in 16 px patches, with
row breaks); OpenAI's high-detail images stay below it."""
DOCUMENT_TOKENS = 8_192
"""Tokens a document sent by URL or file id is counted as (about ten pages of text): its
size is not known before the provider fetches it. An estimate, not a bound: a longer
document costs more, and budgets and context windows cannot see that in advance."""
_MIN_ANSWER_TOKENS = 16
"""The least ``max_tokens`` worth a last ``on_limit="answer"`` request."""

_FINAL_ANSWER_PROMPT = (
    "The usage budget of this run is nearly spent: no more tool calls. Give your final "
    "answer now, briefly, with what you already know."
)


@dataclass(frozen=True, slots=True)
class WorstCase:
    """The most one request can use: input tokens (bounded from above), output tokens
    (its ``max_tokens``), and their cost (``None`` when the model's price is unknown)."""

    input_tokens: int
    output_tokens: int
    cost_usd: float | None

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


def _max_tokens(model: Model, request: ModelRequest) -> int:
    """The request's ``max_tokens`` as it is sent: the request's setting, else the model's
    own, else the profile's (what merging the settings gives, without merging the rest)."""
    cap = request.settings.max_tokens
    if cap is None:
        own = getattr(model, "settings", None)
        if isinstance(own, ModelSettings):
            cap = own.max_tokens
    return cap or model.profile.max_output_tokens


def attachment_tokens(part: DocumentPart | AudioPart) -> int:
    """Tokens a document or audio clip may add beyond its inline bytes (which already count
    as text): a document's page images (one ``IMAGE_TOKENS``; PDFs are read as text and a
    picture of each page) and, sent by URL or file id, ``DOCUMENT_TOKENS``. Audio adds none:
    its bytes outnumber its tokens (Voxtral takes 12.5 tokens a second; the leanest mp3 is
    1,000 bytes a second)."""
    if isinstance(part, AudioPart):
        return 0
    return IMAGE_TOKENS + (0 if part.size else DOCUMENT_TOKENS)


def _media_tokens(messages: list[Message] | Any) -> int:
    count = 0
    for message in messages:
        if isinstance(message, UserMessage) and not isinstance(message.content, str):
            for part in message.content:
                if isinstance(part, ImagePart):
                    count += IMAGE_TOKENS
                elif isinstance(part, DocumentPart | AudioPart):
                    count += attachment_tokens(part)
        elif isinstance(message, ToolMessage):
            count += IMAGE_TOKENS * len(message.images)
            count += sum(attachment_tokens(part) for part in message.attachments)
    return count


def worst_case(model: Model, request: ModelRequest) -> WorstCase:
    """The worst case of sending ``request`` to ``model`` (see the module docs)."""
    from agentkit.models.dialect import RequestEncoder  # pydantic_core; on first use

    profile = model.profile
    encoded = RequestEncoder(model.name, profile, ModelSettings()).encode(request)
    input_tokens = (
        len(encoded)
        + MESSAGE_OVERHEAD * len(request.messages)
        + TOOL_OVERHEAD * len(request.tools)
        + REQUEST_OVERHEAD
        + _media_tokens(request.messages)
    )
    if profile.context_window is not None:
        input_tokens = min(input_tokens, profile.context_window)
    output_tokens = _max_tokens(model, request)
    price = profile.price
    cost = None
    if price is not None:
        cached = price.cached_input_per_mtok or 0.0
        input_price = max(price.input_per_mtok, cached)
        cost = (input_tokens * input_price + output_tokens * price.output_per_mtok) / 1_000_000
    return WorstCase(input_tokens, output_tokens, cost)


def _overshoot(limits: UsageLimits, usage: Usage, case: WorstCase) -> str | None:
    """The first limit the request could pass, or ``None``."""
    checks: tuple[tuple[str, float | None, float], ...] = (
        ("requests", limits.requests, usage.requests + 1),
        ("input_tokens", limits.input_tokens, usage.input_tokens + case.input_tokens),
        ("output_tokens", limits.output_tokens, usage.output_tokens + case.output_tokens),
        ("total_tokens", limits.total_tokens, usage.total_tokens + case.total_tokens),
        ("cost_usd", limits.cost_usd, (usage.cost_usd or 0.0) + (case.cost_usd or 0.0)),
    )
    for name, limit, worst in checks:
        if limit is not None and worst > limit:
            return name
    return None


def _answer_budget(limits: UsageLimits, usage: Usage, case: WorstCase, model: Model) -> int:
    """The most output tokens a last request can ask for and stay within every limit."""
    room = [case.output_tokens]
    if limits.requests is not None and usage.requests + 1 > limits.requests:
        return 0
    if (
        limits.input_tokens is not None
        and usage.input_tokens + case.input_tokens > limits.input_tokens
    ):
        return 0
    if limits.output_tokens is not None:
        room.append(limits.output_tokens - usage.output_tokens)
    if limits.total_tokens is not None:
        room.append(limits.total_tokens - usage.total_tokens - case.input_tokens)
    price = model.profile.price
    if limits.cost_usd is not None and price is not None and price.output_per_mtok > 0:
        input_cost = (case.cost_usd or 0.0) - case.output_tokens * price.output_per_mtok / 1e6
        left = limits.cost_usd - (usage.cost_usd or 0.0) - input_cost
        room.append(int(left * 1_000_000 / price.output_per_mtok))
    return max(min(room), 0)


def _refuse(limit: str, ledger: Ledger, case: WorstCase, run: RunInfo, *, nested: bool) -> None:
    limits, usage = ledger.limits, ledger.charged
    assert limits is not None
    value = getattr(limits, limit)
    whose = "the calling run's" if nested else "the run's"
    used = {
        "requests": f"{usage.requests} requests",
        "input_tokens": f"{usage.input_tokens} input tokens",
        "output_tokens": f"{usage.output_tokens} output tokens",
        "total_tokens": f"{usage.total_tokens} tokens",
        "cost_usd": f"${usage.cost_usd or 0.0:.6f}",  # charged: never None
    }[limit]
    cost = "unpriced" if case.cost_usd is None else f"${case.cost_usd:.6f}"
    raise UsageLimitExceeded(
        f"The next model request could pass {whose} {limit} limit ({value}): that run has "
        f"used {used}, and the request's worst case is {case.input_tokens} input tokens + "
        f"{case.output_tokens} output tokens (max_tokens), {cost}. It was not sent. Raise "
        f"the limit, lower max_tokens in the settings, or pass "
        f'UsageLimits(..., on_limit="answer") to end with a last answer instead.',
        limit=limit,
        usage=replace(ledger.usage),
        worst_case=case,
        messages=run.messages,
    )


def _final_request(request: ModelRequest, max_tokens: int) -> ModelRequest:
    """The last request of ``on_limit="answer"``: no tools (but the final-result tool),
    a note asking for the answer, ``max_tokens`` lowered to what is left."""
    tools = tuple(t for t in request.tools if t.name == OUTPUT_TOOL_NAME)
    return replace(
        request,
        messages=[*request.messages, UserMessage(content=_FINAL_ANSWER_PROMPT)],
        tools=tools,
        tool_choice=OUTPUT_TOOL_NAME if tools else None,
        settings=replace(request.settings, max_tokens=max_tokens),
    )


class Ledger:
    """The budget of one logical run: its usage as reported, what counts against its
    limits, and the limits; a nested run's ledger names the ledger of the run it is part
    of (``parent``), so each of its requests is checked against every budget above it
    before it is sent, and counted in all of them.

    ``usage`` is what servers reported (the run's ``RunResult.usage``). ``charged`` is
    what the limits count (kept only by a ledger with limits): the same, except that a
    request whose server reported no usage is charged at its worst case, never as 0.
    """

    __slots__ = ("_answered", "charged", "limits", "parent", "sent", "usage")

    def __init__(
        self,
        limits: UsageLimits | None = None,
        *,
        parent: Ledger | None = None,
        usage: Usage | None = None,
    ) -> None:
        self.limits = limits
        self.parent = parent
        self.usage = usage if usage is not None else Usage()
        self.charged = self.usage  # read only where there are limits: then an account of its own
        if limits is not None:
            self.charged = Usage()
            self.charged.add(self.usage)
            if self.charged.cost_usd is None:  # unknown cost carried in: no charge to add
                self.charged.cost_usd = 0.0
        self._answered = False
        self.sent: WorstCase | None = None
        """The worst case of the request in flight (set when a budget applies)."""

    def chain(self) -> list[Ledger]:
        """This ledger and those of the runs it is part of, innermost first."""
        ledgers: list[Ledger] = []
        ledger: Ledger | None = self
        while ledger is not None:
            ledgers.append(ledger)
            ledger = ledger.parent
        return ledgers

    @property
    def limited(self) -> bool:
        """Whether any budget applies (this run's or one above it)."""
        if self.parent is None:
            return self.limits is not None
        return any(ledger.limits is not None for ledger in self.chain())

    def check_prices(self, model: Model) -> None:
        """Refuse a ``cost_usd`` limit on a model without a price, before any request."""
        for ledger in self.chain():
            limits = ledger.limits
            if limits is not None and limits.cost_usd is not None and model.profile.price is None:
                raise ConfigurationError(
                    f"UsageLimits(cost_usd={limits.cost_usd}) needs the model's price, but "
                    f"model {model.name!r} (profile {model.profile.name!r}) has none "
                    "(with a FallbackModel, every model of the chain needs one). Give the "
                    "profile a price (ModelProfile.with_changes(price=ModelPrice(...))) or "
                    "limit tokens instead."
                )

    def admit(
        self, model: Model, request: ModelRequest, run: RunInfo
    ) -> tuple[ModelRequest, WorstCase]:
        """The request to send and its worst case, if it fits every budget (this run's
        and those above it); else ``UsageLimitExceeded``. With ``on_limit="answer"`` on
        this run's limits, the request may become one last request for the answer."""
        case = worst_case(model, request)
        for ledger in self.chain():
            limits = ledger.limits
            if limits is None:
                continue
            limit = _overshoot(limits, ledger.charged, case)
            if limit is None:
                continue
            if ledger is self and limits.on_limit == "answer" and not self._answered:
                final = self._last_answer(model, request, case)
                if final is not None:
                    return final
            _refuse(limit, ledger, case, run, nested=ledger is not self)
        return request, case

    def _last_answer(
        self, model: Model, request: ModelRequest, case: WorstCase
    ) -> tuple[ModelRequest, WorstCase] | None:
        limits = self.limits
        assert limits is not None
        budget = _answer_budget(limits, self.charged, case, model)
        if budget < _MIN_ANSWER_TOKENS:
            return None
        final = _final_request(request, budget)
        final_case = worst_case(model, final)
        if any(
            ledger.limits is not None and _overshoot(ledger.limits, ledger.charged, final_case)
            for ledger in self.chain()
        ):
            return None
        self._answered = True
        return final, final_case

    def record(self, usage: Usage) -> None:
        """Add one response's usage to this run and every run above it; charge the
        limits its request's worst case when its server reported none."""
        case, self.sent = self.sent, None
        if self.parent is None and self.limits is None:  # no budget: only the report
            self.usage.add(usage)
            return
        charge = usage
        if case is not None and usage.unreported:
            charge = Usage(
                requests=usage.requests,
                input_tokens=case.input_tokens,
                output_tokens=case.output_tokens,
                cost_usd=case.cost_usd,
            )
        for ledger in self.chain():
            ledger.usage.add(usage)
            if ledger.limits is None:
                continue
            ledger.charged.add(charge)
            if ledger.charged.cost_usd is None:
                ledger.charged.cost_usd = 0.0  # unpriced: no cost limit can apply here

    def admit_tool_calls(self, count: int, messages: list[Message]) -> None:
        """Count ``count`` tool calls about to run in every run above this one; refuse
        them all (none runs) past any ``tool_calls`` budget."""
        if count == 0:
            return
        if self.parent is None and self.limits is None:
            self.usage.tool_calls += count
            return
        chain = self.chain()
        for ledger in chain:
            limits = ledger.limits
            if limits is None or limits.tool_calls is None:
                continue
            if ledger.charged.tool_calls + count > limits.tool_calls:
                whose = "the run's" if ledger is self else "the calling run's"
                raise UsageLimitExceeded(
                    f"The model asked for {count} tool calls, but {whose} tool_calls limit is "
                    f"{limits.tool_calls} and {ledger.charged.tool_calls} already ran; none of "
                    "them ran. Raise the limit, or check why the model needs so many calls.",
                    limit="tool_calls",
                    usage=replace(ledger.usage),
                    worst_case=count,
                    messages=messages,
                )
        for ledger in chain:
            ledger.usage.tool_calls += count
            if ledger.limits is not None:
                ledger.charged.tool_calls += count


class UsageLimitsHook(Hooks):
    """Checks each request of a run against a ``Ledger`` before it is sent, and charges
    the ledger what it cost (the run adds it, innermost, when any budget applies)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def wrap_run(self, run: RunInfo) -> AbstractAsyncContextManager[None]:
        """Refuse a ``cost_usd`` limit on a model without a price, before any request."""
        return self._run(run)

    @asynccontextmanager
    async def _run(self, run: RunInfo) -> AsyncIterator[None]:
        self.ledger.check_prices(run.model)
        yield

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        """Send ``request`` only if its worst case fits every budget."""
        sent, case = self.ledger.admit(run.model, request, run)
        self.ledger.sent = case  # charged by record() if the server reports no usage
        return await handler(sent)
