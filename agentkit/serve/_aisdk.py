"""``POST /ai-sdk/chat``: the agent behind the Vercel AI SDK's ``useChat`` (``ai`` 6).

The request is what ``useChat``'s ``DefaultChatTransport`` posts (``id``, ``messages``
as UI messages with parts, ``trigger``); the answer is the AI SDK's UI message stream,
server-sent events with the header ``x-vercel-ai-ui-message-stream: v1``::

    start
      start-step
        reasoning-start/delta/end                                         (thinking)
        text-start/delta/end                                              (the answer)
        tool-input-available, tool-output-available | tool-output-error    (the tools)
        tool-approval-request                           (a call that needs approval)
      finish-step
      ...                                                  (a step per model request)
    finish (finishReason "stop", or "tool-calls" when paused) | error
    [DONE]

``id`` is the conversation in the server's session store; of ``messages`` only the last
is new (the earlier ones start a conversation the store does not know): a user message
(its text and image parts) asks, and an assistant message whose tool parts are in the
state ``approval-responded`` decides the calls the run paused on. That is how the AI SDK
models approvals: the run sends ``tool-approval-request`` (``approvalId`` is the call's
approval key), the app calls ``addToolApprovalResponse({id, approved, reason})`` and
``useChat`` (with ``sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses``)
posts the messages again; the resumed run's results continue the same assistant message,
a denied call as ``tool-output-denied``. Tool parts are static (``tool-<name>``), as for
any tool defined on the server; tool outputs are the text the model was given.
``trigger: "regenerate-message"`` is refused: the server keeps the conversation, and
does not rewrite a stored turn.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from agentkit.approval import Decision, Denied
from agentkit.events import (
    ApprovalRequiredEvent,
    ModelResponseEvent,
    RunResult,
    TextDeltaEvent,
    ThinkingDeltaEvent,
    ToolCallFinishedEvent,
)
from agentkit.messages import AssistantMessage, ContentPart, Message, TextPart, UserMessage
from agentkit.output import OUTPUT_TOOL_NAME
from agentkit.serve._openai import DONE, ClientError, output_text, sse
from agentkit.serve._ui import UITurn, conversation_id, image, json_or_text

__all__ = ["AISDKStream", "parse"]

_DENIED = "The user denied this tool call."


def parse(body: Any, text_output: bool) -> UITurn:
    """A ``useChat`` request as a turn; ``ClientError`` says what is wrong with it."""
    if not isinstance(body, dict):
        raise ClientError("The body must be the AI SDK's chat request (a JSON object).")
    cid = conversation_id(body.get("id"), "id")
    trigger = body.get("trigger", "submit-message")
    if trigger != "submit-message":
        raise ClientError(
            f"'trigger' {trigger!r} is not supported: this server keeps the conversation and "
            "does not rewrite a stored turn. Send a new message instead (submit-message).",
            param="trigger",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        raise ClientError("'messages' must be a non-empty list of UI messages.", param="messages")
    last, where = messages[-1], f"messages[{len(messages) - 1}]"
    if last.get("role") == "assistant":
        approvals = _decisions(last.get("parts"), where)
        stream = AISDKStream(text_output, None, {k for k, d in approvals.items() if d is not True})
        return UITurn(cid, None, approvals, stream)
    if last.get("role") != "user":
        raise ClientError(
            f"{where} must be the user's new message, or the assistant's with tool approval "
            "responses.",
            param=where,
        )
    prompt = _user_parts(last.get("parts"), where)
    seed: list[Message] = []
    for index, item in enumerate(messages[:-1]):
        if not isinstance(item, dict):
            raise ClientError(f"messages[{index}] must be a UI message.", param="messages")
        if item.get("role") == "user":
            seed.append(UserMessage(content=_user_parts(item.get("parts"), f"messages[{index}]")))
        elif item.get("role") == "assistant":
            text = "".join(
                p.get("text", "")
                for p in item.get("parts") or ()
                if isinstance(p, dict) and p.get("type") == "text"
            )
            if text:
                seed.append(AssistantMessage(content=text))
    return UITurn(cid, prompt, None, AISDKStream(text_output, f"msg-{secrets.token_hex(8)}"), seed)


def _user_parts(parts: Any, where: str) -> str | tuple[ContentPart, ...]:
    if not isinstance(parts, list):
        raise ClientError(f"{where}.parts must be a list of parts.", param=f"{where}.parts")
    content: list[ContentPart] = []
    for index, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            content.append(TextPart(text=part["text"]))
        elif kind == "file":
            content.append(image(part.get("url"), part.get("mediaType"), f"{where}.parts[{index}]"))
        elif kind != "step-start":
            raise ClientError(
                f"{where}.parts[{index}] must be a text or file (image) part.",
                param=f"{where}.parts[{index}]",
            )
    if not any(isinstance(p, TextPart) and p.text.strip() for p in content) and not any(
        not isinstance(p, TextPart) for p in content
    ):
        raise ClientError(f"{where} is empty: the user message needs text.", param=where)
    if all(isinstance(p, TextPart) for p in content):
        return "".join(p.text for p in content if isinstance(p, TextPart))
    return tuple(content)


def _decisions(parts: Any, where: str) -> dict[str, Decision]:
    """The approval responses in an assistant message's tool parts, by approval id."""
    decisions: dict[str, Decision] = {}
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict) or part.get("state") != "approval-responded":
            continue
        approval = part.get("approval")
        if not isinstance(approval, dict) or not isinstance(approval.get("id"), str):
            raise ClientError(f"{where} has a tool part whose 'approval' has no id.", param=where)
        approved, reason = approval.get("approved"), approval.get("reason")
        if not isinstance(approved, bool) or not (reason is None or isinstance(reason, str)):
            raise ClientError(
                f"{where}: approval {approval['id']!r} needs 'approved' (true or false) and "
                "an optional 'reason' string.",
                param=where,
            )
        decisions[approval["id"]] = True if approved else Denied(reason or _DENIED)
    if not decisions:
        raise ClientError(
            f"{where} is the assistant's, with no tool approval response: send the user's "
            "new message, or answer the approval requests (addToolApprovalResponse).",
            param=where,
        )
    return decisions


class AISDKStream:
    """One turn as UI message stream chunks (see the module docstring)."""

    headers: Sequence[tuple[bytes, bytes]] = (
        (b"x-vercel-ai-ui-message-stream", b"v1"),
        (b"connection", b"keep-alive"),
    )

    def __init__(
        self, text_output: bool, message_id: str | None, denied: set[str] | None = None
    ) -> None:
        self.text_output = text_output
        self.message_id = message_id
        """The new assistant message's id (``None``: the run continues the client's last)."""
        self.denied = denied or set()
        self._step = False
        self._tools = False
        self._text: str | None = None
        self._reasoning: str | None = None

    def start(self) -> list[bytes]:
        """``start``."""
        if self.message_id is None:
            return [sse({"type": "start"})]
        return [sse({"type": "start", "messageId": self.message_id})]

    def _open_step(self) -> list[bytes]:
        out: list[bytes] = []
        if self._step and self._tools:  # the tools ran: the next model request is a step
            out += self._close_step()
        if not self._step:
            out.append(sse({"type": "start-step"}))
            self._step = True
        return out

    def _close_step(self) -> list[bytes]:
        out = self._close()
        if self._step:
            out.append(sse({"type": "finish-step"}))
        self._step = self._tools = False
        return out

    def _close(self) -> list[bytes]:
        out: list[bytes] = []
        if self._text is not None:
            out.append(sse({"type": "text-end", "id": self._text}))
            self._text = None
        if self._reasoning is not None:
            out.append(sse({"type": "reasoning-end", "id": self._reasoning}))
            self._reasoning = None
        return out

    def _say(self, text: str) -> list[bytes]:
        out = self._open_step()
        if self._text is None:
            out += self._close()
            self._text = f"text-{secrets.token_hex(6)}"
            out.append(sse({"type": "text-start", "id": self._text}))
        out.append(sse({"type": "text-delta", "id": self._text, "delta": text}))
        return out

    def event(self, event: object) -> list[bytes]:
        """The chunks for one run event."""
        if isinstance(event, TextDeltaEvent) and self.text_output and event.text:
            return self._say(event.text)
        if isinstance(event, ThinkingDeltaEvent) and event.text:
            out = self._open_step()
            if self._reasoning is None:
                out += self._close()
                self._reasoning = f"reasoning-{secrets.token_hex(6)}"
                out.append(sse({"type": "reasoning-start", "id": self._reasoning}))
            out.append(sse({"type": "reasoning-delta", "id": self._reasoning, "delta": event.text}))
            return out
        if isinstance(event, ModelResponseEvent):
            out = [*self._open_step(), *self._close()]
            calls = [c for c in event.response.message.tool_calls if c.name != OUTPUT_TOOL_NAME]
            for call in calls:
                out.append(_tool_input(call.id, call.name, call.arguments))
            self._tools = bool(calls)
            if not calls:
                out += self._close_step()
            return out
        if isinstance(event, ToolCallFinishedEvent) and event.name != OUTPUT_TOOL_NAME:
            out = [] if self._step else self._open_step()  # a resumed run starts with results
            self._tools = True
            if event.tool_call_id in self.denied:
                out.append(sse({"type": "tool-output-denied", "toolCallId": event.tool_call_id}))
            elif event.is_error:
                chunk = {"type": "tool-output-error", "toolCallId": event.tool_call_id}
                out.append(sse({**chunk, "errorText": event.content}))
            else:
                chunk = {"type": "tool-output-available", "toolCallId": event.tool_call_id}
                out.append(sse({**chunk, "output": event.content}))
            return out
        if isinstance(event, ApprovalRequiredEvent):
            out = []
            for r in event.requests:
                if r.via:  # a call inside an agent used as a tool: not in the stream yet
                    out.append(_tool_input(r.key, r.tool_name, r.arguments))
                out.append(
                    sse({"type": "tool-approval-request", "approvalId": r.key, "toolCallId": r.key})
                )
            return out
        return []

    def finished(self, result: RunResult[Any]) -> list[bytes]:
        """The output (for a structured one), ``finish-step``, ``finish``, ``[DONE]``."""
        out: list[bytes] = []
        if not self.text_output and not result.is_paused:
            out += self._say(output_text(result.output))
        out += self._close_step()
        usage = result.usage
        metadata = {
            "usage": {
                "inputTokens": usage.input_tokens,
                "outputTokens": usage.output_tokens,
                "reasoningTokens": usage.reasoning_tokens,
                "totalTokens": usage.total_tokens,
            }
        }
        reason = "tool-calls" if result.is_paused else "stop"
        out.append(sse({"type": "finish", "finishReason": reason, "messageMetadata": metadata}))
        return [*out, DONE]

    def failed(self, message: str, code: str) -> list[bytes]:
        """``error`` (after closing what was open), then ``[DONE]``."""
        return [*self._close(), sse({"type": "error", "errorText": f"{code}: {message}"}), DONE]


def _tool_input(call_id: str, name: str, arguments: str) -> bytes:
    return sse(
        {
            "type": "tool-input-available",
            "toolCallId": call_id,
            "toolName": name,
            "input": json_or_text(arguments),
        }
    )
