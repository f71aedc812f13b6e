"""agentkit: plain Python functions become tools; an async loop drives the model.

::

    from agentkit import Agent, tool

    @tool
    def get_weather(city: str) -> str:
        \"\"\"Get the current weather for a city.\"\"\"
        return "sunny, 21 C"

    agent = Agent("mistral:mistral-small-2506", tools=[get_weather])
    print(agent.run_sync("Weather in Paris?").output)

The ``openai`` SDK and every optional dependency are imported on first use.
"""

from agentkit._errors import (
    AgentkitError,
    AgentRunError,
    ApprovalError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContentFilteredError,
    ContextWindowExceededError,
    HistoryError,
    MaxTurnsExceededError,
    MCPConnectionError,
    MCPToolError,
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelRetry,
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
    UsageLimitExceeded,
    UserError,
)
from agentkit._guard import RealRequestBlockedError
from agentkit._run.history import Session, SessionHistory
from agentkit.agent import Agent, RunStream
from agentkit.approval import ApprovalRequest, Denied
from agentkit.context import ContextPolicy, ContextWindow, count_tokens
from agentkit.events import (
    AgentEvent,
    AgentToolEvent,
    ApprovalRequiredEvent,
    ContextTrimmedEvent,
    FinalResultEvent,
    HistoryRepairedEvent,
    ModelFallbackEvent,
    ModelResponseEvent,
    ModelWarningEvent,
    PartialOutputEvent,
    RetryEvent,
    RunResult,
    TextDeltaEvent,
    ToolCallArgsDeltaEvent,
    ToolCallFinishedEvent,
    ToolCallStartedEvent,
)
from agentkit.hooks import Hooks, RunInfo, ToolInvocation, ToolResult
from agentkit.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    dump_messages,
    load_messages,
)
from agentkit.models.base import ModelSettings
from agentkit.tools import RunContext, Tool, Toolset, tool
from agentkit.usage import ModelPrice, Usage, UsageLimits

__version__ = "0.1.0"

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
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextPolicy",
    "ContextTrimmedEvent",
    "ContextWindow",
    "ContextWindowExceededError",
    "Denied",
    "FinalResultEvent",
    "HistoryError",
    "HistoryRepairedEvent",
    "Hooks",
    "ImagePart",
    "MCPConnectionError",
    "MCPToolError",
    "MaxTurnsExceededError",
    "Message",
    "ModelAPIError",
    "ModelConnectionError",
    "ModelFallbackEvent",
    "ModelHTTPError",
    "ModelNotFoundError",
    "ModelPrice",
    "ModelResponseEvent",
    "ModelRetry",
    "ModelSettings",
    "ModelTimeoutError",
    "ModelWarningEvent",
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
    "Tool",
    "ToolCall",
    "ToolCallArgsDeltaEvent",
    "ToolCallFinishedEvent",
    "ToolCallStartedEvent",
    "ToolDefinitionError",
    "ToolExecutionError",
    "ToolInvocation",
    "ToolLoopError",
    "ToolMessage",
    "ToolResult",
    "Toolset",
    "Usage",
    "UsageLimitExceeded",
    "UsageLimits",
    "UserError",
    "UserMessage",
    "count_tokens",
    "dump_messages",
    "load_messages",
    "tool",
]
