"""The ASGI app of ``agentkit serve``: the chat page, its event stream, the OpenAI API.

Routes::

    GET  /                        the chat page (one self-contained HTML file)
    POST /api/chat                one turn of the page's conversation, as its event stream
    GET  /api/conversations/{id}  a conversation so far (the page redraws it after a reload)
    POST /v1/approvals            decide the calls a paused API run waits for, and resume it
    GET  /v1/models               the served agent, as the one model
    POST /v1/chat/completions     OpenAI-compatible chat completions, plain and streamed
    POST /ag-ui                   a run as AG-UI events (``_agui``)
    POST /ai-sdk/chat             a turn as the Vercel AI SDK's UI message stream (``_aisdk``)

Every request is checked against the token when one is set (``Authorization: Bearer``,
or ``?token=`` for the page itself), and against cross-site and rebound callers
(``agentkit.serve._guard``). Request bodies are bounded and checked before any run
starts: what cannot be processed is a 400 in OpenAI's error shape, never a 500. A
client that disconnects while its run goes on cancels the run.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from agentkit._errors import (
    AgentkitError,
    GuardrailTripped,
    ModelAPIError,
    ModelTimeoutError,
    RateLimitError,
    RunPausedError,
    UnsupportedContentError,
)
from agentkit.approval import Decision, Denied, pending_approvals
from agentkit.events import (
    RunResult,
    TextDeltaEvent,
)
from agentkit.messages import Message, UserMessage
from agentkit.models.base import Model
from agentkit.output import OutputSchema
from agentkit.serve import _agui as agui
from agentkit.serve import _aisdk as aisdk
from agentkit.serve import _openai as oai
from agentkit.serve._guard import BrowserGuard
from agentkit.serve._page import page_error, page_events, request_json, structured, transcript
from agentkit.serve._store import Conversations, SessionsOption
from agentkit.serve._ui import UITurn
from agentkit.usage import format_usage

if TYPE_CHECKING:
    from agentkit._run.history import Session
    from agentkit.agent import Agent

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

DEFAULT_MAX_BODY_BYTES = 1_000_000
"""Requests with a larger body are refused with 413."""


_DENIED = "The user denied this tool call in the web chat."
_DENIED_API = "The user denied this tool call."


def create_app(
    agent: Agent[Any, Any],
    *,
    model: Model | str | None = None,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allow_origins: Sequence[str] = (),
    allow_hosts: Sequence[str] = (),
    sessions: SessionsOption = None,
    local_model: bool = False,
    forget_after: float | None = None,
) -> ASGIApp:
    """The ASGI app serving ``agent`` (see the module docstring for its routes).

    ``model`` overrides the agent's model for every run; ``token``, when set, is required
    on every request. ``sessions`` is where conversations are kept (``serve._store``:
    memory by default, a SQLite path, a ``postgresql://`` URL or a session factory).
    Without a token, only requests addressed to a loopback name (or
    one of ``allow_hosts``) are answered; pages on ``allow_origins`` may call it (CORS).
    ``local_model`` says the model runs on this machine: the page shows its cost as $0.
    ``forget_after`` (seconds) forgets conversations idle that long, checked at start
    and then every ``forget_after / 10`` seconds (at most hourly); never one in use.
    The app holds the agent's connections open while it is served (its lifespan), and
    closes them at shutdown.
    """
    conversations = Conversations(sessions, forget_after=forget_after)
    served = _Served(agent, model, max_body_bytes, conversations)
    served.local_model = local_model

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with agent, anyio.create_task_group() as tg:
            if forget_after is not None:
                await tg.start(conversations.forget_idle_forever)
            yield
            tg.cancel_scope.cancel()

    app = Starlette(
        routes=[
            Route("/", served.page, methods=["GET"]),
            Route("/api/chat", served.chat, methods=["POST"]),
            Route("/api/conversations/{cid}", served.conversation, methods=["GET"]),
            Route("/v1/models", served.models, methods=["GET"]),
            Route("/v1/chat/completions", served.completions, methods=["POST"]),
            Route("/v1/approvals", served.approvals, methods=["POST"]),
            Route("/ag-ui", served.ag_ui, methods=["POST"]),
            Route("/ai-sdk/chat", served.ai_sdk, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    inner: ASGIApp = _TokenCheck(app, token) if token else app
    return BrowserGuard(
        inner, allow_origins=allow_origins, allow_hosts=allow_hosts, check_host=not token
    )


class _TokenCheck:
    """Refuses (401) any HTTP request without the token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            body = oai.error_body(
                "Missing or wrong token: this server was started with a token. Send it as "
                "'Authorization: Bearer <token>' (or open the page as /?token=<token>).",
                type_="authentication_error",
                code="invalid_api_key",
            )
            await JSONResponse(body, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
        if not given and scope.get("path") == "/":
            from urllib.parse import parse_qs

            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [""])[0].encode()
        return bool(given) and hmac.compare_digest(given, self._token)


class _Served:
    """The endpoints, around one agent."""

    def __init__(
        self,
        agent: Agent[Any, Any],
        model: Model | str | None,
        limit: int,
        conversations: Conversations,
    ) -> None:
        self.agent = agent
        self.model = model
        self.limit = limit
        self.conversations = conversations
        self.busy = conversations.busy
        self.local_model = False
        """The model runs on this machine (the page's usage line says $0)."""
        self.output: OutputSchema[Any] | None = (
            None if agent.output_type is str else OutputSchema(agent.output_type)
        )
        """Validates a structured answer found in a stored conversation (to draw it)."""

    # -- the page -------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        html = resources.files("agentkit.serve").joinpath("chat.html").read_text("utf-8")
        html = html.replace("{{AGENT_NAME}}", _html_escape(self.agent.name))
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": (
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
                ),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    async def conversation(self, request: Request) -> Response:
        messages = await self.conversations.messages(request.path_params["cid"])
        pending = _pending(messages, self.agent)
        return JSONResponse({"items": transcript(messages, self.output), "pending": pending})

    async def _items(self, cid: str) -> list[dict[str, Any]]:
        return transcript(await self.conversations.messages(cid), self.output)

    async def chat(self, request: Request) -> Response:
        try:
            body = await _read_json(request, self.limit)
            cid, prompt, approvals = _chat_request(body)
        except oai.ClientError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        if cid in self.busy:
            return JSONResponse(
                oai.error_body("This conversation has a turn running; wait for it to end."),
                status_code=409,
            )
        if prompt is None and not _pending(await self.conversations.messages(cid), self.agent):
            message = "Send a 'prompt' (nothing in this conversation waits for approval)."
            return JSONResponse(oai.error_body(message), status_code=400)

        async def events() -> AsyncIterator[bytes]:
            self.busy.add(cid)
            try:
                async for data in self._turn(cid, prompt, approvals):
                    yield oai.sse(data)
            finally:
                self.busy.discard(cid)

        return _EventStream(events)

    async def _turn(
        self,
        cid: str,
        prompt: str | None,
        approvals: dict[str, Decision] | None,
    ) -> AsyncIterator[dict[str, Any]]:
        yield {"type": "run_started"}
        result: RunResult[Any] | None = None
        session = self.conversations.session(cid)
        started = time.monotonic()
        try:
            async with self.agent.run_stream(
                prompt, session=session, model=self.model, approvals=approvals
            ) as stream:
                async for event in stream:
                    for data in page_events(event, self.agent.output_type is str):
                        yield data
                result = stream.result
        except Exception as exc:  # the session stored nothing of the turn
            error = page_error(exc, embedded_model=self.local_model)
            # Where the failed turn sits in the stored conversation: the page keeps the turn
            # in the tab and draws it there again after a reload.
            with contextlib.suppress(Exception):  # a store that failed now: the page appends
                error["kept"] = len(await self._items(cid))
            yield error
            return
        usage = result.usage
        finished: dict[str, Any] = {
            "type": "run_finished",
            "paused": result.is_paused,
            "output": None if result.is_paused else oai.output_text(result.output),
            "structured": None
            if result.is_paused or self.output is None
            else structured(result.output),
            "usage_text": format_usage(
                usage, seconds=time.monotonic() - started, local=self.local_model
            ),
            "usage": {
                "requests": usage.requests,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "reasoning_tokens": usage.reasoning_tokens,
                "total_tokens": usage.total_tokens,
                "tool_calls": usage.tool_calls,
                "cost_usd": usage.cost_usd,
            },
        }
        with contextlib.suppress(Exception):  # where the page's usage line goes on a reload
            finished["kept"] = len(await self._items(cid))
        yield finished

    # -- the front-end protocols (AG-UI, the AI SDK's UI messages) -------------------------

    async def ag_ui(self, request: Request) -> Response:
        return await self._ui(request, agui.parse)

    async def ai_sdk(self, request: Request) -> Response:
        return await self._ui(request, aisdk.parse)

    async def _ui(self, request: Request, parse: Callable[[Any, bool], UITurn]) -> Response:
        """A turn asked for in a front-end protocol, run once on the conversation's session
        and written by the protocol's stream (``serve._ui``)."""
        try:
            turn = parse(await _read_json(request, self.limit), self.agent.output_type is str)
        except oai.ClientError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        cid = turn.conversation
        if cid in self.busy:
            message = "This conversation has a turn running; wait for it to end."
            return JSONResponse(oai.error_body(message), status_code=409)
        needed = turn.prompt is None or turn.seed  # read the store only when it decides
        stored = await self.conversations.messages(cid) if needed else []
        if turn.prompt is None and not _pending(stored, self.agent):
            message = f"Nothing in conversation {cid!r} waits for approval: send a user message."
            return JSONResponse(oai.error_body(message), status_code=409)
        if turn.seed and not stored:  # a conversation the store does not know: the client's
            session = self.conversations.session(cid)
            await session.save_turn(turn.seed, paused=False, resumed=False)

        async def events() -> AsyncIterator[bytes]:
            self.busy.add(cid)
            try:
                async for data in self._ui_turn(turn):
                    yield data
            finally:
                self.busy.discard(cid)

        return _EventStream(events, headers=turn.stream.headers)

    async def _ui_turn(self, turn: UITurn) -> AsyncIterator[bytes]:
        out = turn.stream
        for data in out.start():
            yield data
        try:
            async with self.agent.run_stream(
                turn.prompt,
                session=self.conversations.session(turn.conversation),
                model=self.model,
                approvals=turn.approvals,
            ) as stream:
                async for event in stream:
                    for data in out.event(event):
                        yield data
                result = stream.result
        except AgentkitError as exc:  # the session stored nothing of the failed turn
            for data in out.failed(str(exc), type(exc).__name__):
                yield data
            return
        except Exception as exc:  # a bug, not the client's: the client still hears of it
            for data in out.failed(_internal_error(exc)["error"]["message"], "internal_error"):
                yield data
            return
        for data in out.finished(result):
            yield data

    # -- the OpenAI API -------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        data = [{"id": self.agent.name, "object": "model", "created": 0, "owned_by": "agentkit"}]
        return JSONResponse({"object": "list", "data": data})

    async def completions(self, request: Request) -> Response:
        try:
            body = await _read_json(request, self.limit)
            chat = oai.parse_chat(body)
            refusal = oai.response_format_refusal(body, self.agent.output_type is not str)
            if refusal is not None:
                raise refusal
        except oai.ClientError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        try:
            # The agent's own system message (its instructions and output-mode prompt):
            # a history given to a run is sent as it is, so the system message goes first.
            plan_system = self.agent.system_message(model=self.model)
        except AgentkitError as exc:
            return _error_response(exc)
        history = oai.with_instructions(plan_system, chat.instructions, chat.history)
        name = self.agent.name
        id_ = oai.completion_id()
        if chat.stream:
            return _EventStream(lambda: self._streamed(chat, history, name, id_))

        def run() -> Awaitable[RunResult[Any]]:
            return self.agent.run(
                chat.prompt, message_history=history, model=self.model, settings=chat.settings
            )

        return _Watched(lambda: self._answer(run, None, id_))

    async def _paused(self, result: RunResult[Any], cid: str | None) -> Response:
        """A run paused for approval: 409 with what waits, kept under a conversation id
        (a new one for a run made from the client's messages) that ``/v1/approvals`` and
        the page can resume, on any worker sharing the store."""
        if cid is None:
            cid = f"conv-{secrets.token_hex(12)}"
            await self.conversations.start_paused(cid, result.messages)
        status, headers, body = _paused_error(cid, result.messages, self.agent)
        return JSONResponse(body, status_code=status, headers=headers)

    async def approvals(self, request: Request) -> Response:
        """``POST /v1/approvals``: ``{"conversation": id, "decisions": {call_id: true |
        false | {"approve": false, "reason": "..."}}, "stream": false}``; resumes the
        paused run and answers as ``/v1/chat/completions`` would (200, or 409 again)."""
        try:
            body = await _read_json(request, self.limit)
            cid, decisions, stream, include_usage = _approvals_request(body)
        except oai.ClientError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        waiting = _pending(await self.conversations.messages(cid), self.agent)
        if not waiting:
            message = f"Nothing in conversation {cid!r} waits for approval (or it is unknown)."
            return JSONResponse(oai.error_body(message, param="conversation"), status_code=404)
        missing = sorted({w["id"] for w in waiting} - set(decisions))
        if missing:
            message = f"Decide every waiting call: no decision for {', '.join(missing)}."
            return JSONResponse(oai.error_body(message, param="decisions"), status_code=400)
        name, id_ = self.agent.name, oai.completion_id()
        session = self.conversations.session(cid)
        if stream:
            chat = oai.ParsedChat([], UserMessage(content=""), None, True, include_usage)
            return _EventStream(
                lambda: self._streamed(chat, [], name, id_, session=session, decisions=decisions)
            )

        def run() -> Awaitable[RunResult[Any]]:
            return self.agent.run(approvals=decisions, session=session, model=self.model)

        return _Watched(lambda: self._answer(run, cid, id_))

    async def _answer(
        self, run: Callable[[], Awaitable[RunResult[Any]]], cid: str | None, id_: str
    ) -> Response:
        """``run()``'s JSON answer: the completion, the 409 of a pause (kept under ``cid``, a
        new conversation when ``None``), or the run's error."""
        try:
            result = await run()
            if result.is_paused:
                return await self._paused(result, cid)
            content = oai.output_text(result.output)
        except AgentkitError as exc:
            return _error_response(exc)
        return JSONResponse(oai.completion(self.agent.name, content, result.usage, id_=id_))

    async def _streamed(
        self,
        chat: oai.ParsedChat,
        history: list[Message],
        name: str,
        id_: str,
        *,
        session: Session | None = None,
        decisions: dict[str, Decision] | None = None,
    ) -> AsyncIterator[bytes]:
        """The run as chunks: a new one (``chat``, ``history``), or a paused one resumed
        (``session``, ``decisions``); pausing again ends with the 409's error event."""
        text_output = self.agent.output_type is str
        yield oai.chunk(name, id_=id_, delta={"role": "assistant", "content": ""})
        try:
            run = (
                self.agent.run_stream(
                    chat.prompt, message_history=history, model=self.model, settings=chat.settings
                )
                if session is None
                else self.agent.run_stream(approvals=decisions, session=session, model=self.model)
            )
            async with run as stream:
                async for event in stream:
                    if text_output and isinstance(event, TextDeltaEvent) and event.text:
                        yield oai.chunk(name, id_=id_, delta={"content": event.text})
                result = stream.result
            if result.is_paused:
                cid = getattr(session, "session_id", None)
                if cid is None:
                    cid = f"conv-{secrets.token_hex(12)}"
                    await self.conversations.start_paused(cid, result.messages)
                yield oai.sse(_paused_error(cid, result.messages, self.agent)[2])
                yield oai.DONE
                return
            content = oai.output_text(result.output)
        except AgentkitError as exc:
            yield oai.sse(_run_error(exc)[2])
            yield oai.DONE
            return
        except Exception as exc:  # a bug, not the client's: still an error event, then DONE
            yield oai.sse(_internal_error(exc))
            yield oai.DONE
            return
        if not text_output:
            yield oai.chunk(name, id_=id_, delta={"content": content})
        usage = None if chat.include_usage else result.usage
        yield oai.chunk(name, id_=id_, finish_reason="stop", usage=usage)
        if chat.include_usage:
            yield oai.chunk(name, id_=id_, usage=result.usage, no_choices=True)
        yield oai.DONE


def _pending(messages: Sequence[Message], agent: Agent[Any, Any]) -> list[dict[str, Any]]:
    """The tool calls of a paused conversation that still wait for a decision."""
    return [request_json(r) for r in pending_approvals(messages, agent.tools)]


def _chat_request(body: Any) -> tuple[str, str | None, dict[str, Decision] | None]:
    if not isinstance(body, dict):
        raise oai.ClientError("The body must be a JSON object.")
    cid = body.get("conversation")
    if not isinstance(cid, str) or not 8 <= len(cid) <= 100:
        raise oai.ClientError("'conversation' must be an id string (8 to 100 characters).")
    prompt = body.get("prompt")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise oai.ClientError("'prompt' must be a non-empty string.")
    raw = body.get("approvals")
    if raw is None:
        return cid, prompt, None
    if not isinstance(raw, dict) or not all(isinstance(v, bool) for v in raw.values()):
        raise oai.ClientError("'approvals' must map tool-call ids to true or false.")
    decisions: dict[str, Decision] = {k: True if v else Denied(_DENIED) for k, v in raw.items()}
    return cid, prompt, decisions


def _run_error(exc: AgentkitError) -> tuple[int, dict[str, str], dict[str, Any]]:
    """A run that failed, as an OpenAI error: status, headers and body, chosen so that
    clients' retry logic does the right thing.

    The upstream model's rate limit stays a 429 (with its ``Retry-After``), its timeout is
    a 504 and its other failures a 502: retrying later may help. A run that failed on its
    own (a loop, a budget, a tool) is a 500 with ``x-should-retry: false`` (the openai SDK
    honours it), since a retry would run the whole agent again for the same failure. A
    guardrail that tripped is a 400 (``guardrail_tripped``, its reason in the message): the
    agent refused the request by policy, and sending it again changes nothing; so is content
    the model cannot take (``unsupported_content``: a document for a model without
    documents, a file over its size limit).
    """
    message = f"The agent's run failed ({type(exc).__name__}): {exc}"
    code = type(exc).__name__
    if isinstance(exc, RunPausedError):
        message = (
            "The agent paused for a tool call that needs approval; the OpenAI API cannot "
            "give one. Use the web chat (GET /) to approve it."
        )
        body = oai.error_body(message, type_="server_error", code="approval_required")
        return 409, {"x-should-retry": "false"}, body
    if isinstance(exc, UnsupportedContentError):
        message = f"The agent's model cannot take this request's content: {exc}"
        body = oai.error_body(message, type_="invalid_request_error", code="unsupported_content")
        return 400, {"x-should-retry": "false"}, body
    if isinstance(exc, GuardrailTripped):
        message = f"The agent's {exc.kind.replace('_', ' ')} guardrail refused: {exc.reason}"
        body = oai.error_body(message, type_="invalid_request_error", code="guardrail_tripped")
        return 400, {"x-should-retry": "false"}, body
    if isinstance(exc, RateLimitError):
        headers = {}
        if exc.retry_after is not None:
            headers["retry-after"] = str(max(1, round(exc.retry_after)))
        body = oai.error_body(message, type_="rate_limit_error", code="rate_limit_exceeded")
        return 429, headers, body
    if isinstance(exc, ModelTimeoutError):
        return 504, {}, oai.error_body(message, type_="server_error", code=code)
    if isinstance(exc, ModelAPIError):
        return 502, {}, oai.error_body(message, type_="server_error", code=code)
    body = oai.error_body(message, type_="server_error", code=code)
    return 500, {"x-should-retry": "false"}, body


def _paused_error(
    cid: str, messages: Sequence[Message], agent: Agent[Any, Any]
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The 409 of a paused run: what waits (id, tool, arguments), and where to decide it."""
    body = oai.error_body(
        f"The agent paused: a tool call needs approval. Decide it with POST /v1/approvals "
        f'{{"conversation": "{cid}", "decisions": {{"<id>": true}}}} (false, or '
        '{"approve": false, "reason": "..."}, denies), or in the web chat.',
        type_="server_error",
        code="approval_required",
    )
    body["error"]["conversation"] = cid
    body["error"]["pending"] = _pending(messages, agent)
    return 409, {"x-should-retry": "false"}, body


def _approvals_request(body: Any) -> tuple[str, dict[str, Decision], bool, bool]:
    if not isinstance(body, dict):
        raise oai.ClientError("The body must be a JSON object.")
    cid = body.get("conversation")
    if not isinstance(cid, str) or not 8 <= len(cid) <= 100:
        raise oai.ClientError(
            "'conversation' must be the id a 409 named (8 to 100 characters).",
            param="conversation",
        )
    raw = body.get("decisions")
    if not isinstance(raw, dict) or not raw:
        raise oai.ClientError(
            "'decisions' must map waiting call ids to true, false, or "
            '{"approve": false, "reason": "..."}.',
            param="decisions",
        )
    decisions: dict[str, Decision] = {}
    for key, value in raw.items():
        if isinstance(value, bool):
            decisions[key] = True if value else Denied(_DENIED_API)
        elif isinstance(value, dict) and isinstance(value.get("approve"), bool):
            reason = value.get("reason")
            if reason is not None and not isinstance(reason, str):
                raise oai.ClientError(f"decisions.{key}.reason must be a string.")
            decisions[key] = True if value["approve"] else Denied(reason or _DENIED_API)
        else:
            raise oai.ClientError(
                f'decisions.{key} must be true, false or {{"approve": bool, "reason": str}}.',
                param=f"decisions.{key}",
            )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise oai.ClientError("'stream' must be true or false.", param="stream")
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return cid, decisions, stream, include_usage


def _error_response(exc: AgentkitError) -> Response:
    status, headers, body = _run_error(exc)
    return JSONResponse(body, status_code=status, headers=headers)


def _internal_error(exc: Exception) -> dict[str, Any]:
    """An unexpected failure (a bug in agentkit or the app): logged, and said plainly."""
    import logging

    logging.getLogger("agentkit.serve").exception("the run failed unexpectedly")
    message = (
        f"The server failed unexpectedly ({type(exc).__name__}); its log has the details. "
        "This is a bug, not something the request can fix."
    )
    return oai.error_body(message, type_="server_error", code="internal_error")


async def _read_json(request: Request, limit: int) -> Any:
    """The body as JSON, refused (413) past ``limit`` bytes and (400) when malformed."""
    declared = request.headers.get("content-length")
    too_big = oai.ClientError(
        f"The request body is larger than this server takes ({limit} bytes).",
        status=413,
        code="request_too_large",
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    data = bytearray()
    async for piece in request.stream():
        data += piece
        if len(data) > limit:
            raise too_big
    try:
        value = json.loads(data)
    except RecursionError:
        raise oai.ClientError(
            f"The request body is nested too deeply (more than {oai.MAX_DEPTH} levels); flatten it."
        ) from None
    except ValueError:
        raise oai.ClientError("The request body is not valid JSON.") from None
    oai.check_json(value)
    return value


def _html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


# -- responses that end when the client leaves ----------------------------------------------


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


class _Watched(Response):
    """A JSON answer computed while watching the client: if it leaves, the run is cancelled."""

    def __init__(self, compute: Callable[[], Awaitable[Response]]) -> None:
        self.compute = compute
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
            response = await self.compute()
            tg.cancel_scope.cancel()
        if response is not None:
            await response(scope, receive, send)


class _EventStream(Response):
    """Server-sent events from an async generator; a client that leaves cancels it."""

    def __init__(
        self,
        events: Callable[[], AsyncIterator[bytes]],
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.events = events
        self.extra_headers = list(headers)
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-store"),
                    (b"x-accel-buffering", b"no"),
                    *self.extra_headers,
                ],
            }
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
            events = self.events()
            try:
                async for data in events:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            except OSError:  # the client went away between two events
                tg.cancel_scope.cancel()
                return
            finally:
                await events.aclose()  # type: ignore[attr-defined]
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            tg.cancel_scope.cancel()
