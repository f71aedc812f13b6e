"""agentkit: plain Python functions become tools; an async loop drives the model.

::

    from agentkit import Agent, tool

    @tool
    def get_weather(city: str) -> str:
        \"\"\"Get the current weather for a city.\"\"\"
        return "sunny, 21 C"

    agent = Agent("mistral:mistral-small-2506", tools=[get_weather])
    print(agent.run_sync("Weather in Paris?").output)

The ``openai`` SDK and every optional dependency are imported on first use, and so is
the run core (sessions, hooks, approvals, context windows, the model layer): the first
``Agent(...)`` loads it, and so does the first access to one of its names here.
"""

import importlib
from typing import TYPE_CHECKING, Any

from agentkit._errors import (
    AgentkitError,
    AgentRunError,
    ApprovalError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContentFilteredError,
    ContextWindowExceededError,
    Explanation,
    GuardrailTripped,
    HistoryError,
    MaxTurnsExceededError,
    MCPConnectionError,
    MCPError,
    MCPToolError,
    MissingAPIKeyError,
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelRetry,
    ModelStreamCutError,
    ModelTimeoutError,
    OutputTruncatedError,
    RateLimitError,
    RetriesExhaustedError,
    RunPausedError,
    ServerError,
    SessionConflictError,
    SessionStoreError,
    ToolDefinitionError,
    ToolExecutionError,
    ToolLoopError,
    UnsupportedContentError,
    UsageLimitExceeded,
    UserError,
    explain_error,
)
from agentkit._guard import RealRequestBlockedError
from agentkit.agent import Agent, RunStream
from agentkit.messages import (
    AssistantMessage,
    AudioPart,
    DocumentPart,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    dump_messages,
    load_messages,
)
from agentkit.tools import RunContext, Tool, Toolset, tool
from agentkit.usage import ModelPrice, Usage, UsageLimits
from agentkit.version import __version__ as __version__

if TYPE_CHECKING:
    from agentkit._run.history import Session, SessionHistory
    from agentkit.approval import ApprovalRequest, Denied
    from agentkit.context import ContextPolicy, ContextSummary, ContextWindow, count_tokens
    from agentkit.events import (
        AgentEvent,
        AgentToolEvent,
        ApprovalRequiredEvent,
        ContextCompactedEvent,
        ContextSummaryFailedEvent,
        ContextTrimmedEvent,
        FinalResultEvent,
        GuardrailEvent,
        HistoryRepairedEvent,
        ModelFallbackEvent,
        ModelResponseEvent,
        ModelWarningEvent,
        PartialOutputEvent,
        RetryEvent,
        RunResult,
        TextDeltaEvent,
        ThinkingDeltaEvent,
        ToolCallArgsDeltaEvent,
        ToolCallFinishedEvent,
        ToolCallStartedEvent,
    )
    from agentkit.guardrails import (
        GuardrailResult,
        InputGuardrail,
        OutputGuardrail,
        ToolGuardrail,
    )
    from agentkit.hooks import Hooks, RunInfo, ToolInvocation, ToolResult
    from agentkit.models.base import MistralGuardrail, ModelSettings
    from agentkit.toolsearch import ToolSearch


__all__ = [
    "Agent",
    "AgentEvent",
    "AgentRunError",
    "AgentToolEvent",
    "AgentkitError",
    "ApprovalError",
    "ApprovalRequest",
    "ApprovalRequiredEvent",
    "AssistantMessage",
    "AudioPart",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextCompactedEvent",
    "ContextPolicy",
    "ContextSummary",
    "ContextSummaryFailedEvent",
    "ContextTrimmedEvent",
    "ContextWindow",
    "ContextWindowExceededError",
    "Denied",
    "DocumentPart",
    "Explanation",
    "FinalResultEvent",
    "GuardrailEvent",
    "GuardrailResult",
    "GuardrailTripped",
    "HistoryError",
    "HistoryRepairedEvent",
    "Hooks",
    "ImagePart",
    "InputGuardrail",
    "MCPConnectionError",
    "MCPError",
    "MCPToolError",
    "MaxTurnsExceededError",
    "Message",
    "MissingAPIKeyError",
    "MistralGuardrail",
    "ModelAPIError",
    "ModelConnectionError",
    "ModelFallbackEvent",
    "ModelHTTPError",
    "ModelNotFoundError",
    "ModelPrice",
    "ModelResponseEvent",
    "ModelRetry",
    "ModelSettings",
    "ModelStreamCutError",
    "ModelTimeoutError",
    "ModelWarningEvent",
    "OutputGuardrail",
    "OutputTruncatedError",
    "PartialOutputEvent",
    "RateLimitError",
    "RealRequestBlockedError",
    "RetriesExhaustedError",
    "RetryEvent",
    "RunContext",
    "RunInfo",
    "RunPausedError",
    "RunResult",
    "RunStream",
    "ServerError",
    "Session",
    "SessionConflictError",
    "SessionHistory",
    "SessionStoreError",
    "SystemMessage",
    "TextDeltaEvent",
    "TextPart",
    "ThinkingDeltaEvent",
    "ThinkingPart",
    "Tool",
    "ToolCall",
    "ToolCallArgsDeltaEvent",
    "ToolCallFinishedEvent",
    "ToolCallStartedEvent",
    "ToolDefinitionError",
    "ToolExecutionError",
    "ToolGuardrail",
    "ToolInvocation",
    "ToolLoopError",
    "ToolMessage",
    "ToolResult",
    "ToolSearch",
    "Toolset",
    "UnsupportedContentError",
    "Usage",
    "UsageLimitExceeded",
    "UsageLimits",
    "UserError",
    "UserMessage",
    "count_tokens",
    "dump_messages",
    "explain_error",
    "load_messages",
    "tool",
]


_LAZY_MODULES = {
    "agentkit._run.history": ("Session", "SessionHistory"),
    "agentkit.approval": ("ApprovalRequest", "Denied"),
    "agentkit.context": ("ContextPolicy", "ContextSummary", "ContextWindow", "count_tokens"),
    "agentkit.events": (
        "AgentEvent",
        "AgentToolEvent",
        "ApprovalRequiredEvent",
        "ContextCompactedEvent",
        "ContextSummaryFailedEvent",
        "ContextTrimmedEvent",
        "FinalResultEvent",
        "GuardrailEvent",
        "HistoryRepairedEvent",
        "ModelFallbackEvent",
        "ModelResponseEvent",
        "ModelWarningEvent",
        "PartialOutputEvent",
        "RetryEvent",
        "RunResult",
        "TextDeltaEvent",
        "ThinkingDeltaEvent",
        "ToolCallArgsDeltaEvent",
        "ToolCallFinishedEvent",
        "ToolCallStartedEvent",
    ),
    "agentkit.guardrails": (
        "GuardrailResult",
        "InputGuardrail",
        "OutputGuardrail",
        "ToolGuardrail",
    ),
    "agentkit.hooks": ("Hooks", "RunInfo", "ToolInvocation", "ToolResult"),
    "agentkit.models.base": ("MistralGuardrail", "ModelSettings"),
    "agentkit.toolsearch": ("ToolSearch",),
}
"""Names served on first access, by the module that defines them. They belong to the run
core (events, hooks, sessions...), which ``import agentkit`` leaves to the first
``Agent(...)``: see ``python -X importtime -c "import agentkit"`` and test_public_api.py."""

_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """A lazy name: imported from its module on first access, then kept here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # served once; later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    """The module's names, lazy ones included (not yet loaded or not)."""
    return sorted(set(globals()) | set(__all__))
