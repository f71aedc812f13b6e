"""Models: the protocol the loop drives, profiles, and the OpenAI-compatible client.

``OpenAIChatModel`` (and with it the ``openai`` SDK) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentkit.models.base import (
    MistralGuardrail,
    Model,
    ModelFallback,
    ModelLifecycle,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ModelStreamEvent,
    OutputMode,
    OutputSpec,
    ReasoningLevel,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolChoice,
    ToolDefinition,
    complete,
    stream_events,
)
from agentkit.models.infer import infer_model
from agentkit.models.profiles import (
    GENERIC_PROFILE,
    LLAMA_CPP_PROFILE,
    MISTRAL_LARGE_4_PROFILE,
    MISTRAL_MEDIUM_3_5_PROFILE,
    MISTRAL_PROFILE,
    MISTRAL_SMALL_4_PROFILE,
    MISTRAL_SMALL_PROFILE,
    OPENAI_PROFILE,
    OPENAI_REASONING_PROFILE,
    profile_for,
    register_profile,
)

if TYPE_CHECKING:
    from agentkit.models.fallback import FallbackModel
    from agentkit.models.openai import OpenAIChatModel, RetryPolicy

__all__ = [
    "GENERIC_PROFILE",
    "LLAMA_CPP_PROFILE",
    "MISTRAL_LARGE_4_PROFILE",
    "MISTRAL_MEDIUM_3_5_PROFILE",
    "MISTRAL_PROFILE",
    "MISTRAL_SMALL_4_PROFILE",
    "MISTRAL_SMALL_PROFILE",
    "OPENAI_PROFILE",
    "OPENAI_REASONING_PROFILE",
    "FallbackModel",
    "MistralGuardrail",
    "Model",
    "ModelFallback",
    "ModelLifecycle",
    "ModelProfile",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "ModelStreamEvent",
    "OpenAIChatModel",
    "OutputMode",
    "OutputSpec",
    "ReasoningLevel",
    "RetryPolicy",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallDelta",
    "ToolChoice",
    "ToolDefinition",
    "complete",
    "infer_model",
    "profile_for",
    "register_profile",
    "stream_events",
]


def __getattr__(name: str) -> Any:
    if name == "FallbackModel":
        from agentkit.models.fallback import FallbackModel

        return FallbackModel
    if name in ("OpenAIChatModel", "RetryPolicy"):
        from agentkit.models import openai

        return getattr(openai, name)
    raise AttributeError(f"module 'agentkit.models' has no attribute {name!r}")
