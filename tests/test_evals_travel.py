"""The travel desk's own conversations, recorded for real on the embedded model (Gemma 3 270M
on llama.cpp): the source of its example eval dataset (``examples/evals/travel_desk.yaml``).

Replaying (the default) needs neither llama-cpp-python nor the model. To record them again
(a few minutes on 2 cores), then rebuild the dataset from them::

    python tools/record_cassettes.py --no-key tests/test_evals_travel.py
    agentkit eval --from-cassettes tests/cassettes/test_evals_travel \\
        -o examples/evals/travel_desk.yaml --name travel-desk
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from support import load_example

from agentkit.local import DEFAULT_LOCAL_SETTINGS, LOCAL_MODEL_NAME, LocalLlamaServer
from agentkit.models.openai import OpenAIChatModel
from agentkit.models.profiles import LLAMA_CPP_PROFILE

DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens there: a replay never needs it
SETTINGS = DEFAULT_LOCAL_SETTINGS.merged(type(DEFAULT_LOCAL_SETTINGS)(temperature=0.0, seed=7))


def _travel_desk() -> ModuleType:
    return load_example("travel_desk")


@pytest.fixture(scope="module")
def base_url(record_mode: str) -> Iterator[str]:
    """The real embedded model while recording; a dead address while replaying."""
    if record_mode == "none":
        yield DEAD_URL
        return
    with LocalLlamaServer() as server:
        yield server.base_url


@pytest.fixture
def agent(base_url: str) -> Any:
    """The travel desk on the embedded model, as ``LocalLlamaServer.model()`` builds it."""
    model = OpenAIChatModel(
        LOCAL_MODEL_NAME,
        base_url=base_url,
        api_key="local",
        profile=LLAMA_CPP_PROFILE,
        settings=SETTINGS,
    )
    return _travel_desk().build_agent(model)


@pytest.mark.vcr
def test_travel_desk_lyon(agent: Any) -> None:
    """The demo question: a lookup, then advice from its tip."""
    result = agent.run_sync("What's the weather in Lyon tomorrow?")
    assert result.output.city == "Lyon"


@pytest.mark.vcr
def test_travel_desk_umbrella_in_london(agent: Any) -> None:
    """A yes/no question answered from the forecast."""
    result = agent.run_sync("Do I need an umbrella in London?")
    assert result.output.city == "London"


@pytest.mark.vcr
def test_travel_desk_follow_up(agent: Any) -> None:
    """Two turns of one conversation: the second asks about another city."""
    first = agent.run_sync("What's the weather in Lyon tomorrow?")
    second = agent.run_sync("And Oslo?", message_history=first.messages)
    assert (first.output.city, second.output.city) == ("Lyon", "Oslo")
