"""``POST /ag-ui``: the agent as an AG-UI agent (protocol 1.0: CopilotKit, ``@ag-ui/client``).

The request is AG-UI's ``RunAgentInput``; the answer is a server-sent stream of AG-UI
events, one run per request::

    RUN_STARTED
      REASONING_START, REASONING_MESSAGE_START/CONTENT/END, REASONING_END   (thinking)
      TEXT_MESSAGE_START/CONTENT/END                                      (the answer)
      TOOL_CALL_START/ARGS/END, TOOL_CALL_RESULT                  (the agent's own tools)
      STATE_SNAPSHOT {"pendingApprovals": [...]}                 (a run paused, or resumed)
    RUN_FINISHED (outcome: success, or interrupt) | RUN_ERROR

``threadId`` is the conversation in the server's session store, so the thread goes on
across runs, restarts and workers; of the client's ``messages`` only the last, a user
message, is new (the earlier ones start a thread the store does not know). ``context``
entries go with that message. The agent runs its own tools: client (frontend) ``tools``
are refused, not ignored. ``state`` and ``forwardedProps`` do not reach the agent.

Approvals use AG-UI's interrupts: a run that pauses ends with ``RUN_FINISHED`` whose
``outcome`` is ``{"type": "interrupt", "interrupts": [...]}``, one interrupt per waiting
call (``id`` its approval key, ``reason`` ``"tool_approval"``, ``toolCallId``, a
``responseSchema``), and the same calls are in a ``STATE_SNAPSHOT`` under
``pendingApprovals`` for UIs that render from state. The client decides them on the
next run of the thread with ``resume``: ``{"interruptId": id, "status": "resolved",
"payload": {"approved": true}}`` (``false`` with an optional ``"reason"`` denies;
``"cancelled"`` denies too). This is what ``@ag-ui/client`` sends for
``runAgent({resume})`` and what it insists on: a thread with pending interrupts runs
again only with every one of them answered.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import pydantic_core

from agentkit.approval import Decision, Denied
from agentkit.events import (
    ModelResponseEvent,
    RunResult,
    TextDeltaEvent,
    ThinkingDeltaEvent,
    ToolCallFinishedEvent,
)
from agentkit.messages import AssistantMessage, ContentPart, Message, TextPart, UserMessage
from agentkit.output import OUTPUT_TOOL_NAME
from agentkit.serve._openai import ClientError, output_text, sse
from agentkit.serve._ui import (
    UITurn,
    approval_schema,
    conversation_id,
    image,
    waiting_json,
)

__all__ = ["PROTOCOL_VERSION", "AGUIStream", "parse"]

PROTOCOL_VERSION = "1.0"
"""The AG-UI protocol version this endpoint speaks (sent in ``RUN_STARTED``)."""

_DENIED = "The user denied this tool call."
_CANCELLED = "The user cancelled this tool call."


def parse(body: Any, text_output: bool) -> UITurn:
    """A ``RunAgentInput`` as a turn; ``ClientError`` says what is wrong with it."""
    if not isinstance(body, dict):
        raise ClientError("The body must be an AG-UI RunAgentInput (a JSON object).")
    thread = conversation_id(body.get("threadId"), "threadId")
    run_id = body.get("runId")
    if not isinstance(run_id, str) or not run_id:
        raise ClientError("'runId' must be a non-empty string.", param="runId")
    if body.get("tools"):
        raise ClientError(
            "This endpoint serves an agentkit agent that runs its own tools; it does not "
            "take frontend 'tools' from the client. Send an empty list.",
            param="tools",
        )
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ClientError("'messages' must be a list of AG-UI messages.", param="messages")
    state = body.get("state")
    stream = AGUIStream(thread, run_id, text_output, state if isinstance(state, dict) else {})
    resume = body.get("resume")
    if resume:
        stream.resumed = True
        return UITurn(thread, None, _decisions(resume), stream)
    prompt, seed = _prompt(messages)
    extra = _context(body.get("context"))
    if extra is not None:
        parts = (TextPart(text=prompt),) if isinstance(prompt, str) else prompt
        prompt = (*parts, TextPart(text=extra))
    return UITurn(thread, prompt, None, stream, seed)


def _prompt(messages: list[Any]) -> tuple[str | tuple[ContentPart, ...], list[Message]]:
    """The new user message (the last) and the text turns before it."""
    if not messages or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        raise ClientError(
            "The last of 'messages' must be the user's new message (or send 'resume' to "
            "answer the interrupts of a paused run).",
            param="messages",
        )
    where = f"messages[{len(messages) - 1}].content"
    prompt = _user_content(messages[-1].get("content"), where)
    seed: list[Message] = []
    for index, item in enumerate(messages[:-1]):
        role = item.get("role") if isinstance(item, dict) else None
        content = item.get("content") if isinstance(item, dict) else None
        if role == "user":
            seed.append(UserMessage(content=_user_content(content, f"messages[{index}].content")))
        elif role == "assistant" and isinstance(content, str) and content:
            seed.append(AssistantMessage(content=content))
    return prompt, seed


def _user_content(content: Any, where: str) -> str | tuple[ContentPart, ...]:
    if isinstance(content, str):
        if not content.strip():
            raise ClientError(f"{where} is empty: the user message needs text.", param=where)
        return content
    if not isinstance(content, list) or not content:
        raise ClientError(f"{where} must be text or a list of content parts.", param=where)
    parts: list[ContentPart] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(TextPart(text=part["text"]))
        elif kind == "image" and isinstance(part.get("source"), dict):
            source = part["source"]
            url = source.get("value")
            if source.get("type") == "data" and isinstance(url, str):
                url = f"data:{source.get('mimeType')};base64,{url}"
            parts.append(image(url, source.get("mimeType"), f"{where}[{index}]"))
        else:
            raise ClientError(
                f"{where}[{index}] must be a text or image part (this agent takes no "
                "audio, video or documents).",
                param=f"{where}[{index}]",
            )
    return tuple(parts)


def _context(context: Any) -> str | None:
    """The run's ``context`` entries, as text going with the user message."""
    if not context:
        return None
    if not isinstance(context, list) or not all(
        isinstance(c, dict) and isinstance(c.get("value"), str) for c in context
    ):
        raise ClientError(
            "'context' must be a list of {description, value} objects.", param="context"
        )
    lines = [f"- {c.get('description') or 'context'}: {c['value']}" for c in context]
    return "Context from the application:\n" + "\n".join(lines)


def _decisions(resume: Any) -> dict[str, Decision]:
    """``resume`` entries as decisions on the waiting calls, by approval key."""
    if not isinstance(resume, list):
        raise ClientError("'resume' must be a list of resume entries.", param="resume")
    decisions: dict[str, Decision] = {}
    for index, entry in enumerate(resume):
        where = f"resume[{index}]"
        key = entry.get("interruptId") if isinstance(entry, dict) else None
        if not isinstance(key, str):
            raise ClientError(f"{where}.interruptId must be a string.", param=where)
        status, payload = entry.get("status"), entry.get("payload")
        if status == "cancelled":
            decisions[key] = Denied(_CANCELLED)
            continue
        if status != "resolved":
            raise ClientError(f"{where}.status must be 'resolved' or 'cancelled'.", param=where)
        if isinstance(payload, bool):
            decisions[key] = True if payload else Denied(_DENIED)
        elif isinstance(payload, dict) and isinstance(payload.get("approved"), bool):
            reason = payload.get("reason")
            if reason is not None and not isinstance(reason, str):
                raise ClientError(f"{where}.payload.reason must be a string.", param=where)
            decisions[key] = True if payload["approved"] else Denied(reason or _DENIED)
        else:
            raise ClientError(
                f'{where}.payload must be {{"approved": true or false, "reason": "..."}}.',
                param=f"{where}.payload",
            )
    return decisions


def _id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


class AGUIStream:
    """One run's AG-UI events (see the module docstring)."""

    headers: Sequence[tuple[bytes, bytes]] = ()

    def __init__(self, thread: str, run_id: str, text_output: bool, state: dict[str, Any]) -> None:
        self.thread = thread
        self.run_id = run_id
        self.text_output = text_output
        self.state = state
        self.resumed = False
        self._text: str | None = None
        self._reasoning: str | None = None
        self._parent: str | None = None

    def _emit(self, kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, **{k: v for k, v in fields.items() if v is not None}})

    def start(self) -> list[bytes]:
        """``RUN_STARTED``."""
        return [
            self._emit(
                "RUN_STARTED",
                threadId=self.thread,
                runId=self.run_id,
                protocolVersion=PROTOCOL_VERSION,
            )
        ]

    def _close(self) -> list[bytes]:
        out: list[bytes] = []
        if self._text is not None:
            out.append(self._emit("TEXT_MESSAGE_END", messageId=self._text))
            self._text = None
        if self._reasoning is not None:
            out.append(self._emit("REASONING_MESSAGE_END", messageId=self._reasoning))
            out.append(self._emit("REASONING_END", messageId=self._reasoning))
            self._reasoning = None
        return out

    def _say(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._text is None:
            out += self._close()
            self._text = self._parent = _id("msg")
            out.append(self._emit("TEXT_MESSAGE_START", messageId=self._text, role="assistant"))
        out.append(self._emit("TEXT_MESSAGE_CONTENT", messageId=self._text, delta=text))
        return out

    def event(self, event: object) -> list[bytes]:
        """The AG-UI events for one run event."""
        if isinstance(event, TextDeltaEvent) and self.text_output and event.text:
            return self._say(event.text)
        if isinstance(event, ThinkingDeltaEvent) and event.text:
            out: list[bytes] = []
            if self._reasoning is None:
                out += self._close()
                self._reasoning = _id("reasoning")
                out.append(self._emit("REASONING_START", messageId=self._reasoning))
                out.append(
                    self._emit(
                        "REASONING_MESSAGE_START", messageId=self._reasoning, role="reasoning"
                    )
                )
            out.append(
                self._emit("REASONING_MESSAGE_CONTENT", messageId=self._reasoning, delta=event.text)
            )
            return out
        if isinstance(event, ModelResponseEvent):
            out = self._close()
            for call in event.response.message.tool_calls:
                if call.name == OUTPUT_TOOL_NAME:
                    continue
                out.append(
                    self._emit(
                        "TOOL_CALL_START",
                        toolCallId=call.id,
                        toolCallName=call.name,
                        parentMessageId=self._parent,
                    )
                )
                out.append(self._emit("TOOL_CALL_ARGS", toolCallId=call.id, delta=call.arguments))
                out.append(self._emit("TOOL_CALL_END", toolCallId=call.id))
            self._parent = None
            return out
        if isinstance(event, ToolCallFinishedEvent) and event.name != OUTPUT_TOOL_NAME:
            return [
                self._emit(
                    "TOOL_CALL_RESULT",
                    messageId=_id("result"),
                    toolCallId=event.tool_call_id,
                    content=event.content,
                    role="tool",
                )
            ]
        return []

    def finished(self, result: RunResult[Any]) -> list[bytes]:
        """State, then ``RUN_FINISHED``: with the output, or the interrupts it waits on."""
        out = self._close()
        waiting = result.approvals_needed
        if waiting or self.resumed:
            pending = [waiting_json(r) for r in waiting]
            out.append(
                self._emit("STATE_SNAPSHOT", snapshot={**self.state, "pendingApprovals": pending})
            )
        usage = result.usage
        tokens = [
            {
                "inputTokens": usage.input_tokens,
                "outputTokens": usage.output_tokens,
                "totalTokens": usage.total_tokens,
                "reasoningTokens": usage.reasoning_tokens,
                "cachedInputTokens": usage.cached_tokens,
            }
        ]
        if waiting:
            interrupts = [
                {
                    "id": r.key,
                    "reason": "tool_approval",
                    "message": f"Approve {r.tool_name}({r.arguments})?",
                    "toolCallId": r.tool_call_id,
                    "responseSchema": approval_schema(),
                    "metadata": {
                        "toolName": r.tool_name,
                        **({"agent": r.agent} if r.agent else {}),
                    },
                }
                for r in waiting
            ]
            outcome = {"type": "interrupt", "interrupts": interrupts}
            return [*out, self._finish(outcome=outcome, usage=tokens)]
        if not self.text_output:
            out += self._say(output_text(result.output))
            out += self._close()
        output = pydantic_core.to_jsonable_python(result.output, fallback=str)
        return [*out, self._finish(result=output, outcome={"type": "success"}, usage=tokens)]

    def _finish(self, **fields: Any) -> bytes:
        return self._emit("RUN_FINISHED", threadId=self.thread, runId=self.run_id, **fields)

    def failed(self, message: str, code: str) -> list[bytes]:
        """``RUN_ERROR`` (after closing what was open)."""
        return [*self._close(), self._emit("RUN_ERROR", message=message, code=code)]
