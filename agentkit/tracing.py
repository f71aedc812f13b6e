"""OpenTelemetry traces and metrics of agent runs, following the GenAI semantic conventions.

::

    from agentkit.tracing import Tracing

    agent = Agent("mistral:mistral-small-2506", hooks=[Tracing()])

``Tracing`` is a ``Hooks``: each run is an ``invoke_agent {agent}`` span (INTERNAL), each
model request a ``chat {model}`` span (CLIENT) inside it, each tool call an
``execute_tool {tool}`` span (INTERNAL) inside it. A tool that runs another agent nests
that agent's ``invoke_agent`` span under its ``execute_tool`` span. Retries and
approvals are span events of the run's span (a paused run has ``agentkit.run.paused``);
each guardrail check (``agentkit.guardrails``) is an ``apply_guardrail {name}`` span
(INTERNAL) inside it, timed from its ``GuardrailEvent``, with an error status when it
tripped;
a ``FallbackModel``'s switches are events of the request's ``chat`` span. The metrics
are ``gen_ai.client.token.usage`` (by ``gen_ai.token.type``),
``gen_ai.client.operation.duration`` and, for streamed requests,
``gen_ai.client.operation.time_to_first_chunk``.

Providers: the ones you pass, else the global ones you configured
(``opentelemetry.trace.get_tracer_provider()``); agentkit never sets a global provider.
Only ``opentelemetry-api`` is needed (``pip install -e '.[tracing]'`` in the agentkit clone).

Content (messages, system instructions, tool arguments and results, retry feedback,
error messages) is recorded only with ``capture_content=True`` or, when that is not
given, with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` in the
environment when ``Tracing`` is built; ``capture_content=False`` wins over the variable.
Without it, spans carry names, ids, counts, timings, models and error types only. API
keys and request headers are never recorded: nothing here reads them.

The attribute names are this module's own constants (the semantic-conventions package
marks its GenAI names deprecated since they moved to the semantic-conventions-genai
repository); they were checked against opentelemetry-semantic-conventions 0.66b2.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pydantic_core

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "agentkit.tracing needs the OpenTelemetry API, which is not installed: "
        "pip install -e '.[tracing]' in the agentkit clone (or pip install opentelemetry-api)."
    ) from exc

from agentkit.events import (
    AgentEvent,
    ApprovalRequiredEvent,
    GuardrailEvent,
    ModelResponseEvent,
    PartialOutputEvent,
    RetryEvent,
    TextDeltaEvent,
    ThinkingDeltaEvent,
    ToolCallArgsDeltaEvent,
    ToolCallStartedEvent,
)
from agentkit.hooks import Hooks, RequestHandler, RunInfo, ToolHandler, ToolInvocation, ToolResult
from agentkit.messages import (
    AssistantMessage,
    AudioPart,
    ContentPart,
    DocumentPart,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)
from agentkit.models.base import Model, ModelRequest, ModelResponse
from agentkit.tools import ToolDefinition
from agentkit.usage import Usage
from agentkit.version import __version__

__all__ = ["CAPTURE_CONTENT_ENV", "Tracing"]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The environment variable that turns content capture on (``true``) when
``capture_content`` is not given."""

_SCOPE = "agentkit"

# -- attribute names (GenAI semantic conventions, plus agentkit's own) ------------------------

_OPERATION = "gen_ai.operation.name"
_PROVIDER = "gen_ai.provider.name"
_AGENT_NAME = "gen_ai.agent.name"
_REQUEST_MODEL = "gen_ai.request.model"
_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
_REQUEST_TOP_P = "gen_ai.request.top_p"
_REQUEST_SEED = "gen_ai.request.seed"
_REQUEST_STOP = "gen_ai.request.stop_sequences"
_REQUEST_STREAM = "gen_ai.request.stream"
_OUTPUT_TYPE = "gen_ai.output.type"
_RESPONSE_MODEL = "gen_ai.response.model"
_RESPONSE_ID = "gen_ai.response.id"
_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
_USAGE_INPUT = "gen_ai.usage.input_tokens"
_USAGE_OUTPUT = "gen_ai.usage.output_tokens"
_USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
_USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
_TOKEN_TYPE = "gen_ai.token.type"
_TOOL_NAME = "gen_ai.tool.name"
_TOOL_CALL_ID = "gen_ai.tool.call.id"
_TOOL_TYPE = "gen_ai.tool.type"
_TOOL_DESCRIPTION = "gen_ai.tool.description"
_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
_INPUT_MESSAGES = "gen_ai.input.messages"
_OUTPUT_MESSAGES = "gen_ai.output.messages"
_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
_SERVER_ADDRESS = "server.address"
_SERVER_PORT = "server.port"
_ERROR_TYPE = "error.type"
_HTTP_STATUS = "http.response.status_code"
_COST_USD = "agentkit.usage.cost_usd"
"""The cost in US dollars (of the run on ``invoke_agent``, of the request on ``chat``);
absent when the model's price is unknown."""
_REQUESTS = "agentkit.usage.requests"
_RETRIES_LEFT = "agentkit.retry.retries_left"
_RETRY_REASON = "agentkit.retry.reason"
_FALLBACK_FROM = "agentkit.fallback.from_model"
_FALLBACK_TO = "agentkit.fallback.to_model"
_APPROVAL_TOOLS = "agentkit.approval.tool_names"
_APPROVAL_CALL_IDS = "agentkit.approval.tool_call_ids"
_APPROVAL_ARGUMENTS = "agentkit.approval.arguments"
_GUARDRAIL_NAME = "agentkit.guardrail.name"
_GUARDRAIL_KIND = "agentkit.guardrail.kind"
_GUARDRAIL_ACTION = "agentkit.guardrail.action"
_GUARDRAIL_REASON = "agentkit.guardrail.reason"
"""Why a guardrail tripped or replaced (content: its words may quote what it checked)."""
_PAUSED = "agentkit.run.paused"
"""``True`` on a run that ended paused, waiting for approvals."""

_TOKEN_USAGE_METRIC = "gen_ai.client.token.usage"
_DURATION_METRIC = "gen_ai.client.operation.duration"
_TIME_TO_FIRST_CHUNK_METRIC = "gen_ai.client.operation.time_to_first_chunk"

_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
_SECONDS_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
)  # fmt: skip
"""The bucket boundaries the GenAI conventions advise for these histograms."""


_CHUNKS = (
    TextDeltaEvent,
    ThinkingDeltaEvent,
    ToolCallStartedEvent,
    ToolCallArgsDeltaEvent,
    PartialOutputEvent,
)
"""The run events a streamed answer's chunks become."""


class _Model:
    """The attributes that are the same for every run of one agent on one model, built
    once (``Tracing`` keeps a few of these): the SDK copies what it is given, so the
    same dicts are passed again and again."""

    __slots__ = ("chat", "chat_name", "labels", "run", "run_name")

    def __init__(self, agent_name: str, model: Model) -> None:
        server = _server_attributes(model)
        provider, name = model.profile.provider, model.name
        self.run_name = f"invoke_agent {agent_name}"
        self.run: dict[str, Any] = {
            _OPERATION: "invoke_agent",
            _PROVIDER: provider,
            _AGENT_NAME: agent_name,
            _REQUEST_MODEL: name,
            **server,
        }
        self.chat_name = f"chat {name}"
        self.chat: dict[str, Any] = {
            _OPERATION: "chat",
            _PROVIDER: provider,
            _REQUEST_MODEL: name,
            **server,
        }
        """A chat span's constant attributes, and the metrics' labels before the answer."""
        self.labels: dict[str | None, _Labels] = {}
        """The metrics' labels by the answer's model name."""

    def labels_for(self, response_model: str | None) -> _Labels:
        labels = self.labels.get(response_model)
        if labels is None:
            if len(self.labels) >= _MAX_CACHED:
                self.labels.clear()
            labels = self.labels[response_model] = _Labels(self.chat, response_model)
        return labels


class _Labels:
    """The metrics' labels for one answering model: duration, input and output tokens."""

    __slots__ = ("duration", "input", "output")

    def __init__(self, chat: dict[str, Any], response_model: str | None) -> None:
        self.duration = {**chat, _RESPONSE_MODEL: response_model} if response_model else chat
        self.input = {**self.duration, _TOKEN_TYPE: "input"}
        self.output = {**self.duration, _TOKEN_TYPE: "output"}


_MAX_CACHED = 64
"""At most this many agent-and-model (and answering model) entries are kept; past it the
cache starts again, so a program that makes models on the fly does not grow it."""


class _Run:
    """What ``Tracing`` keeps for one live run (and the run's ``wrap_run`` context
    manager): its span, the context it is current in, and the open streamed chat span."""

    __slots__ = (
        "chat",
        "chat_labels",
        "chat_started",
        "context",
        "first_chunk",
        "info",
        "model",
        "request_attributes",
        "request_key",
        "run",
        "span",
        "token",
        "tracing",
    )

    def __init__(self, tracing: Tracing, run: RunInfo) -> None:
        self.tracing = tracing
        self.run = run
        self.info: _Model = tracing._model_info(run.agent_name, run.model)
        self.model = run.model
        self.span: Span = trace.INVALID_SPAN
        self.context: otel_context.Context | None = None
        self.token: object = None
        self.chat: Span | None = None
        """A streamed request's span, ended once the run has passed on the whole answer."""
        self.chat_labels: dict[str, Any] = {}
        self.chat_started = 0.0
        self.first_chunk = False
        self.request_key: tuple[Any, ...] | None = None
        """What ``request_attributes`` were built from (the settings object, by identity)."""
        self.request_attributes: dict[str, Any] = {}

    async def __aenter__(self) -> None:
        tracing, run, info = self.tracing, self.run, self.info
        attributes = info.run
        if tracing.capture_content:
            attributes = dict(attributes)
            system, messages = _split_system(run.messages)
            if system:
                attributes[_SYSTEM_INSTRUCTIONS] = system
            attributes[_INPUT_MESSAGES] = messages
        span = self.span = tracing._tracer.start_span(
            info.run_name, kind=SpanKind.INTERNAL, attributes=attributes
        )
        tracing._runs[id(run)] = self
        self.context = trace.set_span_in_context(span)
        self.token = otel_context.attach(self.context)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        tracing, run, span = self.tracing, self.run, self.span
        if isinstance(exc, Exception):
            _record_error(span, exc, tracing.capture_content)
        otel_context.detach(self.token)  # type: ignore[arg-type]
        del tracing._runs[id(run)]
        if self.chat is not None:  # the run stopped before passing the answer on
            self.chat.end()
        usage = run.usage
        attributes = _usage_attributes(usage)
        attributes[_REQUESTS] = usage.requests
        result = run.result
        if result is not None and result.approvals_needed:
            attributes[_PAUSED] = True
        elif tracing.capture_content and result is not None:
            attributes[_OUTPUT_MESSAGES] = _output_json(result.output)
        span.set_attributes(attributes)
        span.end()

    def chat_attributes(self, request: ModelRequest) -> dict[str, Any]:
        """A chat span's attributes at its start (content aside): the constant ones and
        the request's settings, built again only when the settings object changes."""
        key = (request.settings, request.output is None, request.stream)
        cached = self.request_key
        if (
            cached is None
            or cached[0] is not key[0]
            or cached[1] is not key[1]
            or cached[2] is not key[2]
        ):
            self.request_key = key
            self.request_attributes = {
                **self.info.chat,
                **_request_attributes(self.model, request),
            }
        return self.request_attributes


@dataclass(frozen=True, slots=True)
class _Instruments:
    tokens: metrics.Histogram
    duration: metrics.Histogram
    first_chunk: metrics.Histogram


class Tracing(Hooks):
    """OpenTelemetry spans and metrics for every run, request and tool call (module docs).

    ``tracer_provider`` / ``meter_provider``: where spans and metrics go; the global
    providers when not given (agentkit never sets them). ``capture_content``: record
    messages, instructions, tool arguments and results; ``None`` reads
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (``true`` turns it on) now.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool | None = None,
    ) -> None:
        tracers = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        meters = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self._tracer = tracers.get_tracer(_SCOPE, __version__)
        meter = meters.get_meter(_SCOPE, __version__)
        self._metrics = _Instruments(
            tokens=meter.create_histogram(
                _TOKEN_USAGE_METRIC,
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            ),
            duration=meter.create_histogram(
                _DURATION_METRIC,
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
            ),
            first_chunk=meter.create_histogram(
                _TIME_TO_FIRST_CHUNK_METRIC,
                unit="s",
                description="Time to receive the first chunk of a streamed response.",
                explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
            ),
        )
        if capture_content is None:
            capture_content = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"
        self.capture_content = capture_content
        """Whether content is recorded (decided when this ``Tracing`` was built)."""
        self._runs: dict[int, _Run] = {}
        """Live runs by ``id(run)``: an entry lives exactly as long as its run."""
        self._models: dict[tuple[str, str, str, Any], _Model] = {}
        """Constant attributes by agent name, model name, provider and base URL (bounded)."""

    def __repr__(self) -> str:
        return f"Tracing(capture_content={self.capture_content})"

    # -- the run --------------------------------------------------------------------------

    def wrap_run(self, run: RunInfo) -> AbstractAsyncContextManager[None]:
        """The run's ``invoke_agent`` span, current while the run runs."""
        return _Run(self, run)

    def _model_info(self, agent_name: str, model: Model) -> _Model:
        key = (agent_name, model.name, model.profile.provider, getattr(model, "base_url", None))
        info = self._models.get(key)
        if info is None:
            if len(self._models) >= _MAX_CACHED:
                self._models.clear()
            info = self._models[key] = _Model(agent_name, model)
        return info

    # -- model requests -------------------------------------------------------------------

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        """The request's ``chat {model}`` span, its duration and token metrics."""
        record = self._runs.get(id(run))
        if record is None:  # a run this Tracing did not open (not through wrap_run)
            record = _Run(self, run)
            parent = None
        else:
            parent = record.context
        info = record.info
        attributes = record.chat_attributes(request)
        if self.capture_content:
            attributes = dict(attributes)
            system, messages = _split_system(request.messages)
            if system:
                attributes[_SYSTEM_INSTRUCTIONS] = system
            attributes[_INPUT_MESSAGES] = messages
            if request.tools:
                attributes[_TOOL_DEFINITIONS] = _tool_definitions_json(request)
        span = self._tracer.start_span(
            info.chat_name, context=parent, kind=SpanKind.CLIENT, attributes=attributes
        )
        started = time.perf_counter()
        streamed = request.stream and parent is not None
        if streamed:
            if record.chat is not None:  # an outer hook sent again: close the previous one
                record.chat.end()
            record.chat, record.chat_labels, record.first_chunk = span, info.chat, False
            record.chat_started = started
        answered = False
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            try:
                response = await handler(request)
            finally:
                otel_context.detach(token)
            self._record_response(span, info, response, time.perf_counter() - started)
            answered = True
        except Exception as exc:
            error = _record_error(span, exc, self.capture_content)
            self._metrics.duration.record(
                time.perf_counter() - started, {**info.chat, _ERROR_TYPE: error}
            )
            raise
        finally:
            if not (answered and streamed):  # a streamed answer's span ends in on_event
                if record.chat is span:
                    record.chat = None
                span.end()
        return response

    def _record_response(
        self, span: Span, info: _Model, response: ModelResponse, elapsed: float
    ) -> None:
        usage = response.usage
        attributes = _usage_attributes(usage)
        if response.model_name:
            attributes[_RESPONSE_MODEL] = response.model_name
        if response.response_id:
            attributes[_RESPONSE_ID] = response.response_id
        if response.finish_reason:
            attributes[_RESPONSE_FINISH_REASONS] = (response.finish_reason,)
        if self.capture_content:
            attributes[_OUTPUT_MESSAGES] = _output_messages_json(response)
        span.set_attributes(attributes)
        for switch in response.fallbacks:  # a FallbackModel's switches
            event: dict[str, Any] = {
                _FALLBACK_FROM: switch.from_model,
                _FALLBACK_TO: switch.to_model,
            }
            event[_ERROR_TYPE] = type(switch.error).__name__
            status = getattr(switch.error, "status_code", None)
            if isinstance(status, int):
                event[_HTTP_STATUS] = status
            span.add_event("agentkit.model_fallback", event)
        labels = info.labels_for(response.model_name or None)
        metrics = self._metrics
        metrics.duration.record(elapsed, labels.duration)
        metrics.tokens.record(usage.input_tokens, labels.input)
        metrics.tokens.record(usage.output_tokens, labels.output)

    # -- tool calls -----------------------------------------------------------------------

    async def wrap_tool_call(
        self, run: RunInfo, invocation: ToolInvocation, handler: ToolHandler
    ) -> ToolResult:
        """The call's ``execute_tool {tool}`` span, current while the tool runs."""
        record = self._runs.get(id(run))
        call = invocation.call
        attributes: dict[str, Any] = {
            _OPERATION: "execute_tool",
            _TOOL_NAME: call.name,
            _TOOL_CALL_ID: call.id,
            _TOOL_TYPE: "function",
        }
        description = invocation.tool.definition.description
        if description:
            attributes[_TOOL_DESCRIPTION] = description
        capture = self.capture_content
        if capture:
            attributes[_TOOL_CALL_ARGUMENTS] = call.arguments
        parent = record.context if record is not None else None
        span = self._tracer.start_span(
            f"execute_tool {call.name}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            result = await handler(invocation)
            if result.is_error:
                error_type = type(result.error).__name__ if result.error else "ToolError"
                span.set_attribute(_ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR, result.content if capture else error_type))
            if capture:
                span.set_attribute(_TOOL_CALL_RESULT, result.content)
        except Exception as exc:
            _record_error(span, exc, capture)
            raise
        finally:
            otel_context.detach(token)
            span.end()
        return result

    # -- events ---------------------------------------------------------------------------

    async def on_event(self, run: RunInfo, event: AgentEvent) -> None:
        """Time to first chunk of streamed requests; retries and approvals as span events."""
        record = self._runs.get(id(run))
        if record is None:
            return
        chat = record.chat
        if chat is not None:
            if isinstance(event, ModelResponseEvent):  # the answer has been passed on whole
                record.chat = None
                chat.end()
                return
            if isinstance(event, _CHUNKS):
                if not record.first_chunk:
                    record.first_chunk = True
                    seconds = time.perf_counter() - record.chat_started
                    chat.set_attribute(_RESPONSE_TIME_TO_FIRST_CHUNK, seconds)
                    self._metrics.first_chunk.record(seconds, record.chat_labels)
                return
        if isinstance(event, GuardrailEvent):
            self._guardrail_span(record, event)
        elif isinstance(event, RetryEvent):
            attributes: dict[str, Any] = {_RETRIES_LEFT: event.retries_left}
            if self.capture_content:
                attributes[_RETRY_REASON] = event.reason
            record.span.add_event("agentkit.retry", attributes)
        elif isinstance(event, ApprovalRequiredEvent):
            requests = event.requests
            attributes = {
                _APPROVAL_TOOLS: tuple(r.tool_name for r in requests),
                _APPROVAL_CALL_IDS: tuple(r.key for r in requests),  # 'p1/c1' in a child
            }
            if self.capture_content:
                attributes[_APPROVAL_ARGUMENTS] = tuple(r.arguments for r in requests)
            record.span.add_event("agentkit.approval_required", attributes)

    def _guardrail_span(self, record: _Run, event: GuardrailEvent) -> None:
        """A check's ``apply_guardrail`` span, in the run's span, timed by the event."""
        attributes: dict[str, Any] = {
            _OPERATION: "apply_guardrail",
            _GUARDRAIL_NAME: event.guardrail,
            _GUARDRAIL_KIND: event.kind,
            _GUARDRAIL_ACTION: event.action,
        }
        if event.tool_name is not None:
            attributes[_TOOL_NAME] = event.tool_name
        if event.tool_call_id is not None:
            attributes[_TOOL_CALL_ID] = event.tool_call_id
        if self.capture_content and event.reason is not None:
            attributes[_GUARDRAIL_REASON] = event.reason
        end = time.time_ns()
        span = self._tracer.start_span(
            f"apply_guardrail {event.guardrail}",
            context=record.context,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=end - int(event.duration * 1e9),
        )
        if event.tripped:
            span.set_attribute(_ERROR_TYPE, "GuardrailTripped")
            detail = event.reason if self.capture_content and event.reason else event.action
            span.set_status(Status(StatusCode.ERROR, detail))
        span.end(end_time=end)


# -- helpers ------------------------------------------------------------------------------


def _server_attributes(model: Model) -> dict[str, Any]:
    """``server.address`` and ``server.port`` from the model's ``base_url``, if it has one
    (the host only: never a user name or password a URL may carry)."""
    base_url = getattr(model, "base_url", None)
    if not isinstance(base_url, str):
        return {}
    try:
        parts = urlsplit(base_url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return {}
    if not host:
        return {}
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme)
    return {_SERVER_ADDRESS: host, _SERVER_PORT: port} if port else {_SERVER_ADDRESS: host}


def _request_attributes(model: Model, request: ModelRequest) -> dict[str, Any]:
    """The request's sampling settings, as sent (the request's, else the model's defaults)."""
    settings = request.settings
    defaults = getattr(model, "settings", None)
    profile = model.profile

    def pick(name: str) -> Any:
        value = getattr(settings, name, None)
        if value is None and defaults is not None:
            value = getattr(defaults, name, None)
        return value

    attributes: dict[str, Any] = {
        _REQUEST_MAX_TOKENS: pick("max_tokens") or profile.max_output_tokens,
        _OUTPUT_TYPE: "text" if request.output is None else "json",
    }
    temperature = pick("temperature")
    if temperature is None:
        temperature = profile.default_temperature
    if temperature is not None:
        attributes[_REQUEST_TEMPERATURE] = temperature
    for key, name in ((_REQUEST_TOP_P, "top_p"), (_REQUEST_SEED, "seed")):
        value = pick(name)
        if value is not None:
            attributes[key] = value
    stop = pick("stop")
    if stop:
        attributes[_REQUEST_STOP] = tuple(stop)
    if request.stream:
        attributes[_REQUEST_STREAM] = True
    return attributes


def _usage_attributes(usage: Usage) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        _USAGE_INPUT: usage.input_tokens,
        _USAGE_OUTPUT: usage.output_tokens,
    }
    if usage.cached_tokens:
        attributes[_USAGE_CACHE_READ] = usage.cached_tokens
    if usage.reasoning_tokens:
        attributes[_USAGE_REASONING] = usage.reasoning_tokens
    if usage.cost_usd is not None:
        attributes[_COST_USD] = usage.cost_usd
    return attributes


def _record_error(span: Span, exc: Exception, capture_content: bool) -> str:
    """``error.type`` and status ERROR; the message (which may quote content) only when
    content is captured. Returns the error type."""
    error_type = type(exc).__name__
    span.set_attribute(_ERROR_TYPE, error_type)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        span.set_attribute(_HTTP_STATUS, status)
    span.set_status(Status(StatusCode.ERROR, str(exc) if capture_content else error_type))
    return error_type


# -- content, in the conventions' JSON shapes (only built when content is captured) -----------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _split_system(messages: Sequence[Message]) -> tuple[str | None, str]:
    """The system instructions and the other messages, as the conventions' JSON."""
    system = [
        {"type": "text", "content": m.content} for m in messages if isinstance(m, SystemMessage)
    ]
    others = [_message(m) for m in messages if not isinstance(m, SystemMessage)]
    return (_dumps(system) if system else None), _dumps(others)


def _message(message: Message) -> dict[str, Any]:
    if isinstance(message, UserMessage):
        content = message.content
        parts = (
            [{"type": "text", "content": content}]
            if isinstance(content, str)
            else [_user_part(p) for p in content]
        )
        return {"role": "user", "parts": parts}
    if isinstance(message, AssistantMessage):
        return {"role": "assistant", "parts": _assistant_parts(message)}
    if isinstance(message, ToolMessage):
        part = {
            "type": "tool_call_response",
            "id": message.tool_call_id,
            "response": message.content,
        }
        return {"role": "tool", "parts": [part]}
    return {"role": "system", "parts": [{"type": "text", "content": message.content}]}


def _user_part(part: ContentPart) -> dict[str, Any]:
    """A user part as a GenAI part: text, or a blob (inline), uri or file (an uploaded id)."""
    if isinstance(part, TextPart):
        return {"type": "text", "content": part.text}
    if isinstance(part, AudioPart):
        mime = f"audio/{part.format}"
        return {"type": "blob", "modality": "audio", "mime_type": mime, "content": part.data}
    modality = "image" if isinstance(part, ImagePart) else "document"
    if isinstance(part, DocumentPart) and part.file_id is not None:
        return {"type": "file", "modality": modality, "file_id": part.file_id}
    url = part.url or ""
    if url.startswith("data:"):
        mime, _, data = url[5:].partition(";base64,")
        return {"type": "blob", "modality": modality, "mime_type": mime, "content": data}
    return {"type": "uri", "modality": modality, "uri": url}


def _assistant_parts(message: AssistantMessage) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"type": "reasoning", "content": part.text} for part in message.thinking
    ]
    if message.content:
        parts.append({"type": "text", "content": message.content})
    for call in message.tool_calls:
        try:
            arguments: Any = json.loads(call.arguments, strict=False)  # model-written
        except ValueError:
            arguments = call.arguments
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": arguments}
        )
    return parts


_FINISH = {"tool_calls": "tool_call", "model_length": "length"}


def _output_messages_json(response: ModelResponse) -> str:
    finish = response.finish_reason or "stop"
    message = {
        "role": "assistant",
        "parts": _assistant_parts(response.message),
        "finish_reason": _FINISH.get(finish, finish),
    }
    return _dumps([message])


def _output_json(output: Any) -> str:
    if isinstance(output, str):
        part: dict[str, Any] = {"type": "text", "content": output}
    else:
        data = pydantic_core.to_jsonable_python(output, fallback=repr)
        part = {"type": "text", "content": _dumps(data)}
    return _dumps([{"role": "assistant", "parts": [part], "finish_reason": "stop"}])


def _tool_definitions_json(request: ModelRequest) -> str:
    return _dumps([_definition(d) for d in request.tools])


def _definition(definition: ToolDefinition) -> Mapping[str, Any]:
    return {
        "type": "function",
        "name": definition.name,
        "description": definition.description,
        "parameters": definition.parameters,
    }
