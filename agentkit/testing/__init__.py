"""Test doubles for agentkit users: scripted and replay models, a local server, cassettes.

- ``ScriptedModel``: answers from a list, records every request; no network at all.
- ``ReplayModel``: plays back the assistant turns of a saved run while tools run for real.
- ``LocalModelServer``: a real OpenAI-compatible HTTP server on 127.0.0.1.
- the pytest plugin (registered on install): record and replay HTTP cassettes.

Names are imported on first use, so ``import agentkit.testing`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentkit.testing.cassettes import CassetteOptions, use_cassette
    from agentkit.testing.replay import (
        MistralRuleError,
        ReplayMismatchError,
        ReplayModel,
        check_mistral_cassette,
        check_mistral_conversation,
        check_mistral_request,
    )
    from agentkit.testing.scripted import (
        ScriptedModel,
        ScriptedResponse,
        ScriptExhaustedError,
        output_call,
        text,
        tool_calls,
    )
    from agentkit.testing.server import LocalModelServer

__all__ = [
    "CassetteOptions",
    "LocalModelServer",
    "MistralRuleError",
    "ReplayMismatchError",
    "ReplayModel",
    "ScriptExhaustedError",
    "ScriptedModel",
    "ScriptedResponse",
    "check_mistral_cassette",
    "check_mistral_conversation",
    "check_mistral_request",
    "output_call",
    "text",
    "tool_calls",
    "use_cassette",
]

_WHERE = {
    "CassetteOptions": "cassettes",
    "use_cassette": "cassettes",
    "MistralRuleError": "replay",
    "check_mistral_cassette": "replay",
    "check_mistral_conversation": "replay",
    "check_mistral_request": "replay",
    "LocalModelServer": "server",
    "ReplayMismatchError": "replay",
    "ReplayModel": "replay",
    "ScriptExhaustedError": "scripted",
    "ScriptedModel": "scripted",
    "ScriptedResponse": "scripted",
    "output_call": "scripted",
    "text": "scripted",
    "tool_calls": "scripted",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'agentkit.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentkit.testing.{module}"), name)
