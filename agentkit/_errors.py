"""Every error agentkit raises, in one tree.

::

    AgentkitError                      base of every error agentkit raises
    ├── UserError                      the program is wrong; fix the code, not the model
    │   ├── ToolDefinitionError        a function cannot become a tool (raised at decoration)
    │   ├── ConfigurationError         no API key, unknown model string, bad option
    │   │   └── MissingAPIKeyError     no API key for the model; ``.variables`` to set
    │   │   └── UnsupportedContentError  an image, document or audio the model cannot take
    │   ├── ApprovalError              decisions that do not match the paused calls
    │   ├── HistoryError               a message history that cannot be sent (index, reason)
    │   ├── RealRequestBlockedError    (tests) a real model request the pytest plugin refused
    │   ├── ReplayMismatchError        (testing.replay) the agent sent what the recording did not
    │   ├── MistralRuleError           (testing.replay) a conversation Mistral would reject
    │   └── CassetteError              (testing.cassettes) a cassette cannot be used
    │       ├── CassetteSecretError        it holds something that looks like a key
    │       ├── CassetteMismatchError      a request differs from the recording (with a diff)
    │       └── UnplayedInteractionsError  recorded exchanges were never sent
    ├── AgentRunError                  a run ended without an output; carries ``.messages``
    │   ├── RetriesExhaustedError      the model kept making fixable mistakes; ``.attempts``
    │   ├── MaxTurnsExceededError      the run used ``max_turns`` model requests
    │   ├── OutputTruncatedError       ``finish_reason`` was ``length``, retries spent
    │   ├── ToolLoopError              the same tool call again and again
    │   ├── ContentFilteredError       the provider's filter stopped the answer (``content_filter``)
    │   ├── GuardrailTripped           a guardrail stopped the run; ``.reason``, ``.output``
    │   ├── ToolExecutionError         a tool raised, and the agent was told to raise
    │   ├── UsageLimitExceeded         the next request or tool calls could pass a budget
    │   ├── ContextWindowExceededError the current turn alone does not fit the context window
    │   ├── SessionConflictError       another run holds (or took) the session's paused turn
    │   └── SessionStoreError          the session's storage failed while storing the turn
    ├── RunPausedError                 ``.output`` of a run paused for approvals
    ├── MCPError                       an MCP server refused a request (a resource, a prompt)
    │   ├── MCPConnectionError         an MCP server could not be reached; names the server
    │   └── MCPToolError               an MCP tool answered ``isError`` (a tool result's ``.error``)
    └── ModelAPIError                  the model endpoint failed; ``.status_code``, ``.body``
        ├── ModelHTTPError             any HTTP error status not listed below
        │   ├── BadRequestError        400 and 422: the server's reason is in the message
        │   ├── AuthenticationError    401 and 403: names the key variable to set
        │   ├── ModelNotFoundError     404: names the model
        │   ├── RateLimitError         429 after the retries were spent
        │   └── ServerError            5xx after the retries were spent
        ├── ModelConnectionError       the connection failed, after retries
        └── ModelTimeoutError          the request timed out, after retries

``ModelRetry`` is not an error agentkit raises: tools and output validators raise
it to send a message back to the model.

Errors raised during a run carry the conversation so far in ``.messages`` (set by
the loop, also on ``ModelAPIError``), so nothing the user had is lost.

``explain_error(exc)`` gives an error as a person reads it: one sentence (what happened,
what to do; written from the error's type and attributes, never from the model's words)
and the developer detail apart. The ``agentkit`` command prints the sentence, the detail
with ``--verbose``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentkit.messages import Message

__all__ = [
    "AgentRunError",
    "AgentkitError",
    "ApprovalError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextWindowExceededError",
    "Explanation",
    "GuardrailTripped",
    "HistoryError",
    "MCPConnectionError",
    "MCPError",
    "MCPToolError",
    "MaxTurnsExceededError",
    "MissingAPIKeyError",
    "ModelAPIError",
    "ModelConnectionError",
    "ModelHTTPError",
    "ModelNotFoundError",
    "ModelRetry",
    "ModelStreamCutError",
    "ModelTimeoutError",
    "OutputTruncatedError",
    "RateLimitError",
    "RetriesExhaustedError",
    "RunPausedError",
    "ServerError",
    "SessionConflictError",
    "SessionStoreError",
    "ToolDefinitionError",
    "ToolExecutionError",
    "ToolLoopError",
    "UnsupportedContentError",
    "UsageLimitExceeded",
    "UserError",
    "explain_error",
    "loopback_host",
]


class ModelRetry(Exception):
    """Raised by a tool or an output validator to ask the model to try again.

    The message is sent back to the model as the answer to its tool call (or as
    feedback on its output), so write it for the model: say what to fix.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AgentkitError(Exception):
    """Base class of every error agentkit raises."""

    messages: list[Message] | None = None
    """The conversation so far when the error ended a run (``None`` outside a run)."""


class UserError(AgentkitError):
    """The program using agentkit is wrong: a bad definition or configuration."""


class ToolDefinitionError(UserError):
    """A function cannot become a tool; the message names the function and parameter."""


class ConfigurationError(UserError):
    """Missing API key, unknown model string, or an invalid option."""


class UnsupportedContentError(ConfigurationError):
    """The conversation holds an image, a document or audio the model's profile cannot take
    (``supports_vision``, ``supports_documents``, ``supports_audio``), in a form its server
    refuses, or more inline bytes than the profile takes in one request. Raised before
    anything is sent; the message names the part and the fix."""


class MissingAPIKeyError(ConfigurationError):
    """No API key for the model: ``.model_name`` is the model, ``.variables`` the environment
    variables any one of which would hold it. The message says the same, for a programmer."""

    def __init__(self, message: str, *, model_name: str, variables: Sequence[str]) -> None:
        super().__init__(message)
        self.model_name = model_name
        self.variables = tuple(variables)


class ApprovalError(UserError):
    """The ``approvals`` passed to a run do not match the calls waiting in its history:
    an id that is not pending, a decision bound to other arguments, or a changed history.
    Nothing has run or been sent when it is raised."""


class HistoryError(UserError):
    """A message history that cannot be sent (and cannot be repaired): ``.index`` is the
    position of the first bad message, the message says what is wrong with it."""

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class RunPausedError(AgentkitError):
    """``result.output`` of a run that paused for approvals: there is no output yet.

    ``.approvals_needed`` lists the calls waiting; ``.messages`` is the paused conversation.
    """

    def __init__(
        self, message: str, *, approvals_needed: Sequence[Any], messages: Sequence[Message]
    ) -> None:
        super().__init__(message)
        self.approvals_needed = tuple(approvals_needed)
        self.messages = list(messages)


class MCPError(AgentkitError):
    """An MCP server refused or failed a request (reading a resource, getting a prompt); the
    message names the server. The base of the MCP errors below."""


class MCPConnectionError(MCPError):
    """An MCP server could not be reached (the process did not start, the URL did not
    answer, the handshake failed). The message names the server."""


class MCPToolError(MCPError):
    """An MCP tool answered with ``isError`` (or its server failed during the call): the
    ``error`` of the call's ``ToolResult``; the model is told the server's text."""


class AgentRunError(AgentkitError):
    """A run ended without producing an output. ``.messages`` holds the conversation."""

    def __init__(self, message: str, *, messages: Sequence[Message] | None = None) -> None:
        super().__init__(message)
        self.messages = list(messages) if messages is not None else None


class RetriesExhaustedError(AgentRunError):
    """The model made fixable mistakes more times in a row than the retry budget allows.

    ``.attempts`` lists the error text of every failed attempt, oldest first.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[str],
        messages: Sequence[Message] | None = None,
    ) -> None:
        super().__init__(message, messages=messages)
        self.attempts = list(attempts)


class MaxTurnsExceededError(AgentRunError):
    """The run reached ``max_turns`` model requests without a final output."""


class OutputTruncatedError(RetriesExhaustedError):
    """The model's output was cut off (``finish_reason`` ``length``) and retries were spent."""


class ContentFilteredError(AgentRunError):
    """The provider's content filter stopped the model's answer (``finish_reason``
    ``content_filter``): what it wrote is not an answer, and asking again rarely helps."""


class GuardrailTripped(AgentRunError):
    """A guardrail (``agentkit.guardrails``) tripped and stopped the run.

    ``.reason`` is why, in the guardrail's words; ``.guardrail`` its name; ``.kind`` what it
    checked (``"input"``, ``"output"``, ``"tool_arguments"`` or ``"tool_result"``);
    ``.output`` what the guardrail gave (a classifier agent's structured output, or the
    richer result of a function; ``None`` when it gave only a reason); ``.tool_name`` the
    tool whose call was checked (tool guardrails). ``.messages`` is the conversation so
    far, valid to send again: no tool ran after the check that tripped.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        guardrail: str,
        kind: str,
        output: Any = None,
        tool_name: str | None = None,
        messages: Sequence[Message] | None = None,
    ) -> None:
        super().__init__(message, messages=messages)
        self.reason = reason
        self.guardrail = guardrail
        self.kind = kind
        self.output = output
        self.tool_name = tool_name


class ToolLoopError(AgentRunError):
    """The model kept repeating the same tool call with the same arguments; ``.tool_names``
    names the tools it called."""

    def __init__(
        self,
        message: str,
        *,
        tool_names: Sequence[str] = (),
        messages: Sequence[Message] | None = None,
    ) -> None:
        super().__init__(message, messages=messages)
        self.tool_names = tuple(tool_names)


class ToolExecutionError(AgentRunError):
    """A tool raised an exception and the agent was configured to raise tool errors.

    The original exception is ``__cause__``; ``.tool_name`` and ``.tool_call_id`` say
    which call failed.
    """

    def __init__(
        self,
        message: str,
        *,
        tool_name: str,
        tool_call_id: str,
        messages: Sequence[Message] | None = None,
    ) -> None:
        super().__init__(message, messages=messages)
        self.tool_name = tool_name
        self.tool_call_id = tool_call_id


class UsageLimitExceeded(AgentRunError):
    """The next model request (or a turn's tool calls) could push the run past a budget,
    so it was not sent (or they did not run).

    ``.limit`` names the budget (``"total_tokens"``, ...), ``.usage`` is the run's usage
    so far, ``.worst_case`` what was refused (the request's worst case, or the number of
    tool calls); ``.messages`` is the conversation, valid to send again.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        usage: Any,
        worst_case: Any,
        messages: Sequence[Message] | None = None,
    ) -> None:
        super().__init__(message, messages=messages)
        self.limit = limit
        self.usage = usage
        self.worst_case = worst_case


class ContextWindowExceededError(AgentRunError):
    """The request would not fit the model's context window, and nothing can be left out
    (the system instructions and the current turn alone are too long), or the context
    policy is ``"error"``. Nothing was sent. ``.input_tokens`` is the counted input,
    ``.limit`` what fits (the window less ``max_tokens``)."""

    def __init__(
        self,
        message: str,
        *,
        input_tokens: int,
        limit: int,
        messages: Sequence[Message] | None = None,
    ) -> None:
        super().__init__(message, messages=messages)
        self.input_tokens = input_tokens
        self.limit = limit


class SessionConflictError(AgentRunError):
    """Another run resumes (or resumed) the session's paused turn: raised before anything
    runs when the turn is claimed, or when the turn is stored. Nothing was stored;
    ``.messages`` holds the run's conversation."""


class SessionStoreError(AgentRunError):
    """The session's storage failed while storing the run's turn (a locked or read-only
    database, a full disk...). Nothing was stored; ``.messages`` holds the whole
    conversation, tool results included, so the turn can be stored again."""


class ModelAPIError(AgentkitError):
    """The model endpoint failed. ``.status_code`` is ``None`` for transport failures."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        model_name: str | None = None,
        base_url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.model_name = model_name
        self.base_url = base_url
        """The endpoint it was sent to, when known (a connection error names its host)."""
        self.retry_after: float | None = None
        """Seconds the server asked to wait before retrying (``Retry-After``), if it said."""


class ModelHTTPError(ModelAPIError):
    """The endpoint answered with an HTTP error status."""


class BadRequestError(ModelHTTPError):
    """400 or 422: the server rejected the request; its reason is in the message."""


class AuthenticationError(ModelHTTPError):
    """401 or 403: the API key is missing, wrong, or lacks access."""


class ModelNotFoundError(ModelHTTPError):
    """404: the endpoint does not serve this model (or the base URL is wrong)."""


class RateLimitError(ModelHTTPError):
    """429, still after the bounded retries."""


class ServerError(ModelHTTPError):
    """5xx, still after the bounded retries."""


class ModelConnectionError(ModelAPIError):
    """The connection to the endpoint failed, still after the bounded retries."""


class ModelStreamCutError(ModelConnectionError):
    """A streamed answer broke off after it began: the server or a proxy closed the
    stream before the model finished. A ``ModelConnectionError``, so what catches that
    catches this too; the deltas before the cut were already given out."""


class ModelTimeoutError(ModelAPIError):
    """The request timed out, still after the bounded retries."""


# -- errors as a person reads them ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Explanation:
    """An error for a person: ``summary``, one sentence (what happened, what to do), and
    ``detail``, what a developer needs (the type and the full message)."""

    summary: str
    detail: str


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _detail(exc: BaseException) -> str:
    lines = [f"{type(exc).__name__}: {str(exc).strip()}"]
    if isinstance(exc, RetriesExhaustedError) and len(exc.attempts) > 1:
        lines.append("Each try's error, oldest first:")
        lines.extend(f"  {n}. {_one_line(a)}" for n, a in enumerate(exc.attempts, 1))
    cause = exc.__cause__
    if cause is not None:
        lines.append(f"Caused by {type(cause).__name__}: {cause}")
    return "\n".join(lines)


def _times(attempts: Sequence[str]) -> str:
    return "once" if len(attempts) == 1 else f"{len(attempts)} times"


def _where(exc: ModelAPIError) -> str:
    return f"model {exc.model_name}" if exc.model_name else "the model"


def _summary(exc: BaseException) -> str:
    """One sentence for ``exc``, in the user's terms."""
    if isinstance(exc, MissingAPIKeyError):
        keys = " or ".join(exc.variables)
        return f"No API key for {exc.model_name}: set {keys} (export {exc.variables[0]}=...)."
    if isinstance(exc, UserError):  # written for the person who set things up
        return _one_line(str(exc))
    if isinstance(exc, OutputTruncatedError):
        return (
            f"The model's answer was cut off at its length limit ({_times(exc.attempts)}); "
            "ask for a shorter answer, or raise max_tokens."
        )
    if isinstance(exc, RetriesExhaustedError):
        tries = len(exc.attempts)
        return (
            f"The model did not manage a valid answer in {tries} {'try' if tries == 1 else 'tries'}"
            "; ask again in other words, or use a more capable model."
        )
    if isinstance(exc, ToolLoopError):
        names = " and ".join(exc.tool_names) or "a tool"
        return (
            f"The model kept calling {names} with the same arguments, so the run was stopped; "
            "ask again in other words."
        )
    if isinstance(exc, MaxTurnsExceededError):
        return (
            "The model used all the requests the agent allows (max_turns) without finishing "
            "its answer; ask a narrower question, or raise max_turns."
        )
    if isinstance(exc, ContentFilteredError):
        return "The provider's content filter stopped the answer; ask in other words."
    if isinstance(exc, GuardrailTripped):
        return f"The guardrail {exc.guardrail} stopped the run: {_one_line(exc.reason)}"
    if isinstance(exc, ToolExecutionError):
        cause = exc.__cause__
        why = f" ({type(cause).__name__}: {_one_line(str(cause))})" if cause else ""
        return f"The tool {exc.tool_name} failed{why}; fix the tool or what it depends on."
    if isinstance(exc, UsageLimitExceeded):
        return (
            f"The run stopped before it could pass its {exc.limit} budget; raise the limit, "
            "or ask for less."
        )
    if isinstance(exc, ContextWindowExceededError):
        return (
            f"The conversation no longer fits the model's context window ({exc.input_tokens:,} "
            f"tokens, {exc.limit:,} fit); start a new conversation, or send less."
        )
    if isinstance(exc, ModelAPIError):
        return _api_summary(exc)
    if isinstance(exc, AgentkitError):
        return _one_line(str(exc))
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


_API_SENTENCES: tuple[tuple[type[ModelAPIError], str], ...] = (
    (
        AuthenticationError,
        "The server of {where} refused the API key ({status}); check that the key is right "
        "and has access to this model.",
    ),
    (
        ModelNotFoundError,
        "The server does not know {where} (404); check the model name and the base URL.",
    ),
    (RateLimitError, "The server of {where} is rate limiting (429); wait a little and try again."),
    (ServerError, "The server of {where} failed ({status}); try again later."),
    (
        BadRequestError,
        "The server of {where} rejected the request ({status}); its reason is in the details.",
    ),
    (ModelTimeoutError, "The server of {where} did not answer in time; try again later."),
    (
        ModelStreamCutError,
        "The answer from {where} was cut off partway (the server or a proxy closed the "
        "stream); try again.",
    ),
    (
        ModelConnectionError,
        "Could not reach the server of {where}; check that it runs and that the base URL is right.",
    ),
)
"""A model endpoint's failure as a sentence, per error class (the first that matches)."""


def loopback_host(host: str) -> bool:
    """Whether a URL's host (lower-cased, no brackets) is this machine: ``localhost``,
    127.0.0.0/8 or ``::1``. Never touches DNS: a name that resolves to 127.0.0.1 is not."""
    if host == "localhost":
        return True
    import ipaddress  # here, not at `import agentkit`

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _unreachable(exc: ModelConnectionError) -> str | None:
    """A connection error in the user's terms, naming the host it could not reach: a
    provider's (check the network) or one on this machine (check that it runs)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(exc.base_url or "")
        host, port = parts.hostname, parts.port  # never the user:password part
    except ValueError:
        return None
    if not host:
        return None
    model = f" (model {exc.model_name})" if exc.model_name else ""
    if loopback_host(host):
        address = f"{host}:{port}" if port else host
        return (
            f"Could not reach the model server at {address}{model}; check that it runs "
            "and that the base URL is right."
        )
    return (
        f"Could not reach {host}{model}; check the network connection (and the base URL, "
        "if you set one)."
    )


def _api_summary(exc: ModelAPIError) -> str:
    if (
        isinstance(exc, ModelConnectionError)
        and not isinstance(exc, ModelStreamCutError)
        and (sentence := _unreachable(exc))
    ):
        return sentence
    template = next(
        (text for cls, text in _API_SENTENCES if isinstance(exc, cls)),
        "The server of {where} failed{status_note}; try again later.",
    )
    status_note = f" ({exc.status_code})" if exc.status_code else ""
    return template.format(where=_where(exc), status=exc.status_code, status_note=status_note)


_EMBEDDED_MODEL_GONE = (
    "The embedded model stopped answering (its server on this machine is gone); restart the "
    "command to start it again."
)
"""A connection error of the embedded model, which the command started itself."""


def explain_error(exc: BaseException, *, embedded_model: bool = False) -> Explanation:
    """``exc`` for a person: a one-sentence summary and the developer detail.
    ``embedded_model``: the model is the embedded one the command runs, so a connection
    error means its server stopped, not that the user's URL or network is wrong."""
    if embedded_model and isinstance(exc, ModelConnectionError):
        return Explanation(summary=_EMBEDDED_MODEL_GONE, detail=_detail(exc))
    return Explanation(summary=_summary(exc), detail=_detail(exc))
