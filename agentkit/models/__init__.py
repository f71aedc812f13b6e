"""Models: the protocol the loop drives, profiles, and the OpenAI-compatible client.

``OpenAIChatModel`` (and with it the ``openai`` SDK) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentkit.models.base import (
    Model,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ModelStreamEvent,
    OutputMode,
    OutputSpec,
    TextDelta,
    ToolCallDelta,
    ToolChoice,
    ToolDefinition,
)

if TYPE_CHECKING:
    from agentkit.models.openai import OpenAIChatModel

__all__ = [
    "Model",
    "ModelProfile",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "ModelStreamEvent",
    "OpenAIChatModel",
    "OutputMode",
    "OutputSpec",
    "TextDelta",
    "ToolCallDelta",
    "ToolChoice",
    "ToolDefinition",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAIChatModel":
        from agentkit.models.openai import OpenAIChatModel

        return OpenAIChatModel
    raise AttributeError(f"module 'agentkit.models' has no attribute {name!r}")
