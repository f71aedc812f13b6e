"""FallbackModel over real HTTP: a 503 (after the model's own retries) moves the request
to the next model; a 400 raises at once; each answer says who gave it and is priced so."""

from __future__ import annotations

from typing import Any

import pytest
from support import model_on

from agentkit import (
    Agent,
    AgentEvent,
    BadRequestError,
    Hooks,
    ModelConnectionError,
    ModelFallbackEvent,
    ModelPrice,
    ModelResponseEvent,
    RateLimitError,
    RunInfo,
    ServerError,
    TextDeltaEvent,
    tool,
)
from agentkit.models import FallbackModel, OpenAIChatModel, RetryPolicy
from agentkit.models.profiles import MISTRAL_SMALL_PROFILE
from agentkit.testing.server import (
    LocalModelServer,
    reply_error,
    reply_text,
    reply_tool_calls,
    usage,
)

PRIMARY_PRICE = ModelPrice(input_per_mtok=0.1, output_per_mtok=0.3)
BACKUP_PRICE = ModelPrice(input_per_mtok=1.0, output_per_mtok=3.0)
FAST_RETRY = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.001)


@tool
def get_time(city: str) -> str:
    """The time in a city.

    Args:
        city: City name.
    """
    return f"{city}: 12:00"


def _model(server: LocalModelServer, name: str, price: ModelPrice) -> OpenAIChatModel:
    profile = MISTRAL_SMALL_PROFILE.with_changes(price=price)
    return model_on(server, name, profile=profile, retry=FAST_RETRY)


class _Events(Hooks):
    """Collects every run event."""

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []

    async def on_event(self, run: RunInfo, event: AgentEvent) -> None:
        self.events.append(event)


@pytest.mark.anyio
async def test_a_503_moves_the_request_to_the_next_model_after_its_own_retries() -> None:
    """The primary answers 503 twice (its request and its one retry); the backup answers;
    the response names the backup and a ModelFallbackEvent shows the switch."""
    with (
        LocalModelServer([reply_error(503, "overloaded")] * 2) as primary,
        LocalModelServer([reply_text("From the backup.", usage=usage(100, 10))]) as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", PRIMARY_PRICE),
            _model(backup, "mistral-small-backup", BACKUP_PRICE),
        )
        seen = _Events()
        result = await Agent(model, hooks=[seen]).run("Hi")
    assert result.output == "From the backup."
    assert (len(primary.requests), len(backup.requests)) == (2, 1)
    assert primary.bodies[0]["messages"] == backup.bodies[0]["messages"]
    switch = next(e for e in seen.events if isinstance(e, ModelFallbackEvent))
    assert (switch.from_model, switch.to_model) == ("mistral-small-2506", "mistral-small-backup")
    assert isinstance(switch.error, ServerError) and switch.error.status_code == 503
    answered = next(e for e in seen.events if isinstance(e, ModelResponseEvent))
    assert answered.response.model_name == "mistral-small-backup"
    assert result.usage.cost_usd == pytest.approx(BACKUP_PRICE.cost(100, 10))
    assert seen.events.index(switch) < seen.events.index(answered)


@pytest.mark.anyio
async def test_a_400_raises_at_once_without_trying_other_models() -> None:
    """A request the server rejects as bad is the caller's bug: no fallback, no retry."""
    with (
        LocalModelServer([reply_error(400, "bad tool schema")]) as primary,
        LocalModelServer([reply_text("never")]) as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", PRIMARY_PRICE),
            _model(backup, "mistral-small-backup", BACKUP_PRICE),
        )
        with pytest.raises(BadRequestError, match="bad tool schema"):
            await Agent(model).run("Hi")
    assert (len(primary.requests), len(backup.requests)) == (1, 0)


@pytest.mark.anyio
async def test_usage_is_priced_with_each_answering_models_own_prices() -> None:
    """Turn one on the primary, turn two on the backup after a 502: the run's cost is
    the sum of each answer at its own model's prices."""
    with (
        LocalModelServer(
            [reply_tool_calls(("get_time", {"city": "Oslo"}), usage=usage(200, 20))]
            + [reply_error(502, "bad gateway")] * 2,
            style="mistral",
        ) as primary,
        LocalModelServer([reply_text("Noon in Oslo.", usage=usage(300, 30))]) as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", PRIMARY_PRICE),
            _model(backup, "mistral-small-backup", BACKUP_PRICE),
        )
        result = await Agent(model, tools=[get_time]).run("Time in Oslo?")
    assert result.output == "Noon in Oslo."
    expected = PRIMARY_PRICE.cost(200, 20) + BACKUP_PRICE.cost(300, 30)
    assert result.usage.cost_usd == pytest.approx(expected)
    assert result.usage.requests == 2
    names = [getattr(m, "model_name", None) for m in result.messages if m.role == "assistant"]
    assert names[-1] == "mistral-small-backup"


@pytest.mark.anyio
async def test_no_switch_once_a_streamed_answer_has_delivered_deltas() -> None:
    """A stream cut off after its first deltas raises: the backup is never asked."""
    cut = reply_text("A long answer that will be cut off in the middle", truncate_after=3)
    with LocalModelServer([cut]) as primary, LocalModelServer([reply_text("never")]) as backup:
        model = FallbackModel(
            _model(primary, "mistral-small-2506", PRIMARY_PRICE),
            _model(backup, "mistral-small-backup", BACKUP_PRICE),
        )
        deltas: list[str] = []
        with pytest.raises(ModelConnectionError):
            async with Agent(model).run_stream("Hi") as stream:
                async for event in stream:
                    if isinstance(event, TextDeltaEvent):
                        deltas.append(event.text)
    assert deltas and len(backup.requests) == 0


@pytest.mark.anyio
async def test_when_every_model_fails_the_last_error_names_the_chain() -> None:
    """All models down: the last model's error is raised, noting the models tried before."""
    with (
        LocalModelServer([reply_error(503, "down")] * 2) as primary,
        LocalModelServer([reply_error(429, "slow down")] * 2) as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", PRIMARY_PRICE),
            _model(backup, "mistral-small-backup", BACKUP_PRICE),
        )
        with pytest.raises(RateLimitError) as caught:
            await Agent(model).run("Hi")
    notes: list[Any] = getattr(caught.value, "__notes__", [])
    assert any("mistral-small-2506 (ServerError)" in n for n in notes)
    assert caught.value.messages is not None


@pytest.mark.anyio
async def test_the_chain_is_entered_and_closed_as_one_model() -> None:
    """async with the FallbackModel enters every model; the profile is the chain's."""
    with LocalModelServer([reply_text("ok")]) as primary, LocalModelServer([]) as backup:
        first = _model(primary, "mistral-small-2506", PRIMARY_PRICE)
        second = _model(backup, "mistral-small-backup", BACKUP_PRICE)
        model = FallbackModel(first, second)
        async with model:
            assert first._entered == 1 and second._entered == 1
            result = await Agent(model).run("Hi")
        assert first._entered == 0 and second._entered == 0
    assert result.output == "ok"
    assert model.profile.price == ModelPrice(1.0, 3.0)
    assert model.name == "fallback(mistral-small-2506, mistral-small-backup)"


@pytest.mark.anyio
async def test_runs_through_the_chain_share_each_models_connection() -> None:
    """A chain of OpenAI-compatible models is not held per run: three runs that fall back
    each time open one connection to each server."""
    with (
        LocalModelServer(lambda request: reply_error(503, "down")) as primary,
        LocalModelServer(lambda request: reply_text("ok")) as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", PRIMARY_PRICE),
            _model(backup, "mistral-small-backup", BACKUP_PRICE),
        )
        agent = Agent(model)
        for _ in range(3):
            assert (await agent.run("Hi")).output == "ok"
        assert (primary.connections, backup.connections) == (1, 1)


@pytest.mark.anyio
async def test_a_streamed_run_reports_the_switch_with_the_answer() -> None:
    """Streamed: the backup's deltas arrive, then the ModelFallbackEvent, then its response."""
    with (
        LocalModelServer([reply_error(503, "down")] * 2) as primary,
        LocalModelServer([reply_text("Backup speaking.")]) as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", PRIMARY_PRICE),
            _model(backup, "mistral-small-backup", BACKUP_PRICE),
        )
        async with Agent(model).run_stream("Hi") as stream:
            events = [e async for e in stream]
    kinds = [type(e).__name__ for e in events]
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == "Backup speaking."
    assert kinds.index("ModelFallbackEvent") < kinds.index("ModelResponseEvent")
    assert backup.bodies[0]["stream"] is True
