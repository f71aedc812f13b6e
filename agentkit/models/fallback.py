"""``FallbackModel``: the next model answers when the current one is down.

::

    model = FallbackModel(
        OpenAIChatModel("mistral-small-2506", base_url=MISTRAL, api_key=...),
        OpenAIChatModel("mistral/mistral-small-2506", base_url=OPPER, api_key=...),
    )

Each request goes to the first model; when it fails with what a retry cannot fix in
time (``ModelConnectionError``, ``ModelTimeoutError``, ``RateLimitError``,
``ServerError``: raised only after that model's own bounded retries), the same request
goes to the next. A 4xx caused by the request itself (``BadRequestError``,
``AuthenticationError``, ``ModelNotFoundError``, any other HTTP error) raises at once:
it is the caller's bug, and other models would hide it. Once a model has streamed a
delta, its failure raises too (the caller has shown part of its answer).

The answer's ``model_name`` says which model gave it, its usage is priced with that
model's own prices, and ``ModelResponse.fallbacks`` lists the switches (the loop turns
each into a ``ModelFallbackEvent``). The FallbackModel never sends a request of its
own: it sends the one request it was given, to one model after another.

Each model gets that request fitted to its own context window: an agent's
``ContextWindow`` hands the FallbackModel a ``FittableRequest`` (the messages whole, and
how to fit them to a model), and the FallbackModel fits it to each model just before
that model is tried. So a 4k fallback behind a 128k primary gets a request that fits 4k,
while the primary gets the whole request.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Self

import anyio

from agentkit._errors import (
    ModelAPIError,
    ModelConnectionError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
)
from agentkit.models.base import (
    Model,
    ModelFallback,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ModelStreamEvent,
    loop_scoped,
)
from agentkit.usage import ModelPrice

__all__ = ["FALLBACK_ERRORS", "FallbackModel", "FittableRequest"]

FALLBACK_ERRORS: tuple[type[ModelAPIError], ...] = (
    ModelConnectionError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
)
"""The failures that send a request on to the next model."""


@dataclass(frozen=True, slots=True)
class FittableRequest(ModelRequest):
    """A request whose ``messages`` are whole, with how to fit it to each model that may
    receive it: a ``FallbackModel`` sends ``fit(model, request)`` to each model it tries.

    ``ContextWindow`` (in ``agentkit.context``) makes one when the run's model is a
    FallbackModel, so each model of the chain gets what fits its own window. ``fit`` is
    called with the request as it reaches the FallbackModel (a hook in between may have
    changed it with ``dataclasses.replace``, which keeps ``fit``).
    """

    fit: Callable[[Model, ModelRequest], ModelRequest] = field(
        kw_only=True, compare=False, repr=False
    )


def _max_output(model: Model) -> int:
    own = getattr(model, "settings", None)
    if isinstance(own, ModelSettings) and own.max_tokens:
        return own.max_tokens
    return model.profile.max_output_tokens


def _chain_profile(models: tuple[Model, ...]) -> ModelProfile:
    """The first model's profile, with what every model of the chain can do and the
    worst case of them all (largest output cap and context, highest prices): the bounds
    usage limits check a request against. Each model is still sent what fits its own
    context window (see ``FittableRequest``)."""
    profiles = [m.profile for m in models]
    prices = [p.price for p in profiles]
    price: ModelPrice | None = None
    if all(p is not None for p in prices):
        known = [p for p in prices if p is not None]
        price = ModelPrice(
            input_per_mtok=max(p.input_per_mtok for p in known),
            output_per_mtok=max(p.output_per_mtok for p in known),
        )
    windows = [p.context_window for p in profiles]
    return profiles[0].with_changes(
        name="fallback(" + ", ".join(p.name for p in profiles) + ")",
        price=price,
        max_output_tokens=max(_max_output(m) for m in models),
        context_window=None if None in windows else max(w for w in windows if w is not None),
        supports_tools=all(p.supports_tools for p in profiles),
        supports_vision=all(p.supports_vision for p in profiles),
        supports_json_schema=all(p.supports_json_schema for p in profiles),
        supports_json_object=all(p.supports_json_object for p in profiles),
    )


def _note_switches(exc: Exception, switches: list[ModelFallback], model: Model) -> None:
    """Say on ``exc`` which models failed before ``model`` raised it."""
    if switches:
        tried = ", ".join(f"{s.from_model} ({type(s.error).__name__})" for s in switches)
        exc.add_note(f"FallbackModel: tried {tried} before {model.name}.")


class FallbackModel:
    """Models tried in order for each request; see the module docs for when it switches.

    Its ``profile`` is the first model's, with what all of them support and the worst
    case of their limits and prices (so usage limits bound every model of the chain);
    each model still speaks its own dialect and, given a ``FittableRequest``, gets the
    request fitted to its own context window. ``async with`` enters every model.
    """

    def __init__(self, first: Model, second: Model, /, *rest: Model) -> None:
        self.models: tuple[Model, ...] = (first, second, *rest)
        self._profile = _chain_profile(self.models)
        self._name = "fallback(" + ", ".join(m.name for m in self.models) + ")"
        self._stack: AsyncExitStack | None = None
        self._entered = 0

    @property
    def name(self) -> str:
        """``fallback(first, second, ...)``: each answer's ``model_name`` says which one."""
        return self._name

    @property
    def profile(self) -> ModelProfile:
        """The chain's profile (see the class docs)."""
        return self._profile

    def __repr__(self) -> str:
        return "FallbackModel(" + ", ".join(repr(m) for m in self.models) + ")"

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        """Send ``request`` to each model in turn until one answers (see the module docs)."""
        switches: list[ModelFallback] = []
        last = len(self.models) - 1
        for position, model in enumerate(self.models):
            delivered = False
            try:
                sent = (
                    request.fit(model, request) if isinstance(request, FittableRequest) else request
                )
            except Exception as exc:  # this model cannot take the request (its window)
                _note_switches(exc, switches, model)
                raise
            events = model.stream(sent)
            try:
                async for event in events:
                    if isinstance(event, ModelResponse):
                        yield replace(
                            event,
                            model_name=event.model_name or model.name,
                            fallbacks=(*switches, *event.fallbacks),
                        )
                        return
                    delivered = True
                    yield event
            except FALLBACK_ERRORS as exc:
                if delivered or position == last:
                    _note_switches(exc, switches, model)
                    raise
                switches.append(ModelFallback(model.name, self.models[position + 1].name, exc))
                continue
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    with anyio.CancelScope(shield=True):
                        await aclose()
            raise ModelAPIError(
                f"Model {model.name!r} ended its stream without a response; a Model's "
                "stream() must yield a ModelResponse last.",
                model_name=model.name,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def loop_scoped(self) -> bool:
        """Whether every model of the chain shares its connections per event loop: runs
        then do not hold the chain open (each model closes its own when the loop ends)."""
        return all(loop_scoped(model) for model in self.models)

    async def aclose(self) -> None:
        """Close every model of the chain."""
        stack, self._stack = self._stack, None
        self._entered = 0
        with anyio.CancelScope(shield=True):
            if stack is not None:
                await stack.aclose()
            for model in self.models:
                await model.aclose()

    async def __aenter__(self) -> Self:
        """Hold every model of the chain open until the matching exit."""
        if self._entered == 0:
            stack = AsyncExitStack()
            try:
                for model in self.models:
                    await stack.enter_async_context(model)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await stack.aclose()
                raise
            self._stack = stack
        self._entered += 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Release this entry; the last one exits every model."""
        self._entered -= 1
        if self._entered == 0:
            stack, self._stack = self._stack, None
            if stack is not None:
                with anyio.CancelScope(shield=True):
                    await stack.aclose()
