"""What the chat page of ``agentkit serve`` is sent: its events, and a stored conversation.

The page draws a turn live from ``page_events`` and redraws a stored conversation from
``transcript``; both say the same things in the same shapes, so a reload shows what the
live turn showed:

* text as it streams (plain-text agents), the model's thinking (folded), tool calls
  and their results, guardrails, calls waiting for approval;
* a structured output as fields (``structured``): only the answer that was accepted,
  never an attempt the model was sent back to fix;
* a turn that failed (``page_error``): one sentence for the user, the developer detail
  apart (the page folds it), and nothing of the turn stored (the page keeps the failed
  turn in the tab and draws it again at its place, ``kept``, after a reload).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pydantic_core

from agentkit._errors import AgentkitError, MissingAPIKeyError, explain_error
from agentkit.events import (
    ApprovalRequiredEvent,
    GuardrailEvent,
    ModelResponseEvent,
    RetryEvent,
    TextDeltaEvent,
    ThinkingDeltaEvent,
    ToolCallFinishedEvent,
)
from agentkit.messages import AssistantMessage, Message, ToolMessage, UserMessage
from agentkit.output import OUTPUT_TOOL_NAME, OutputSchema, OutputValidationError

__all__ = ["page_error", "page_events", "request_json", "structured", "transcript"]


def page_events(event: object, text_output: bool) -> list[dict[str, Any]]:
    """The page's events for one run event (most run events show nothing)."""
    if isinstance(event, TextDeltaEvent) and text_output and event.text:
        return [{"type": "text", "delta": event.text}]
    if isinstance(event, ThinkingDeltaEvent) and event.text:
        return [{"type": "thinking", "delta": event.text}]
    if isinstance(event, RetryEvent):  # the page says it waits again; the reason is the model's
        return [{"type": "retry", "retries_left": event.retries_left}]
    if isinstance(event, ModelResponseEvent):
        return [
            {"type": "tool_call_started", "id": c.id, "name": c.name, "arguments": c.arguments}
            for c in event.response.message.tool_calls
            if c.name != OUTPUT_TOOL_NAME
        ]
    if isinstance(event, ToolCallFinishedEvent) and event.name != OUTPUT_TOOL_NAME:
        return [
            {
                "type": "tool_call_finished",
                "id": event.tool_call_id,
                "name": event.name,
                "arguments": event.arguments,
                "result": event.content,
                "is_error": event.is_error,
            }
        ]
    if isinstance(event, GuardrailEvent) and event.action != "passed":
        return [
            {
                "type": "guardrail",
                "guardrail": event.guardrail,
                "kind": event.kind,
                "action": event.action,
                "reason": event.reason,
                "tool_name": event.tool_name,
                "tool_call_id": event.tool_call_id,
            }
        ]
    if isinstance(event, ApprovalRequiredEvent):
        return [
            {"type": "approval_required", "requests": [request_json(r) for r in event.requests]}
        ]
    return []


def request_json(r: Any) -> dict[str, Any]:
    """A waiting call as the page shows it; ``id`` is the key its decision is sent with
    (``"p1/c1"`` for a call of an agent used as a tool, named in ``agent``)."""
    return {"id": r.key, "name": r.tool_name, "arguments": r.arguments, "agent": r.agent}


def structured(output: Any) -> dict[str, Any]:
    """A structured output as the page draws it: its type's name and its data (an object's
    fields become rows)."""
    return {"type": type(output).__name__, "data": pydantic_core.to_jsonable_python(output)}


def page_error(exc: Exception, *, embedded_model: bool = False) -> dict[str, Any]:
    """A failed turn as the page shows it: ``message`` in the user's terms (what happened,
    what to do), ``detail`` for a developer (the page folds it), ``error`` the type.
    ``embedded_model``: the server runs the embedded model (its stopping is said so)."""
    if not isinstance(exc, AgentkitError):  # a bug: said plainly, the traceback in the log
        logging.getLogger("agentkit.serve").exception("the run failed unexpectedly")
        return {
            "type": "run_error",
            "error": "InternalError",
            "message": (
                "The server failed unexpectedly; this is a bug, not something a different "
                "question can fix. Its log has the details."
            ),
            "detail": f"{type(exc).__name__} (the traceback is in the server's log)",
        }
    explanation = explain_error(exc, embedded_model=embedded_model)
    message, detail = explanation.summary, explanation.detail
    if isinstance(exc, MissingAPIKeyError):  # the page's user may not run the server: say
        message = _no_key(exc.model_name)  # who can fix it, and how
    return {
        "type": "run_error",
        "error": type(exc).__name__,
        "message": message,
        "detail": detail,
    }


def _no_key(model: str) -> str:
    """The page's sentence for a missing API key, with the one hint that fits the install."""
    from agentkit.local import local_model_available

    offline = (
        ", or restart it with --model local (the embedded model: offline, no key)"
        if local_model_available()
        else ""
    )
    return (
        f"The server has no API key for its model ({model}), so it cannot answer. Whoever runs "
        f"it: set the key the details name and restart the server{offline}."
    )


def transcript(
    messages: Sequence[Message], output: OutputSchema[Any] | None
) -> list[dict[str, Any]]:
    """A stored conversation as the page draws it, in the order the live turn drew it: user
    and assistant text, the model's thinking (folded), each tool call where the model made
    it (with its result, or ``None`` while it waits for approval), and each accepted
    structured output (``output`` validates it; ``None`` for a text agent)."""
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    items: list[dict[str, Any]] = []
    sent_back = False  # the last answer was sent back to the model: next comes its feedback
    for message in messages:
        if isinstance(message, UserMessage):
            if sent_back:  # the loop's feedback on a refused answer: never shown live
                sent_back = False
                continue
            content = message.content
            if not isinstance(content, str):
                content = " ".join(getattr(p, "text", f"[{p.type}]") for p in content)
            items.append({"type": "user", "text": content})
        elif isinstance(message, AssistantMessage):
            items.extend({"type": "thinking", "text": part.text} for part in message.thinking)
            if output is None and message.content:
                items.append({"type": "assistant", "text": message.content})
            elif output is not None and message.content and not message.tool_calls:
                shown = _output_item(output, message.content, tool=False)
                items.extend(shown)
                sent_back = not shown
            elif not message.tool_calls:  # an empty answer: the loop sent it back
                sent_back = True
            for call in message.tool_calls:
                result = results.get(call.id)
                if call.name != OUTPUT_TOOL_NAME:
                    items.append(
                        {
                            "type": "tool",
                            "id": call.id,
                            "name": call.name,
                            "arguments": call.arguments,
                            "result": None if result is None else result.content,
                            "is_error": result is not None and result.is_error,
                        }
                    )
                elif output is not None and result is not None and not result.is_error:
                    items.extend(_output_item(output, call.arguments, tool=True))
    return items


def _output_item(output: OutputSchema[Any], data: str, *, tool: bool) -> list[dict[str, Any]]:
    """The structured output in ``data`` as one page item, or none when it does not
    validate (an attempt the model was sent back to fix)."""
    try:
        value = output.validate_arguments(data) if tool else output.validate_text(data)
    except OutputValidationError:
        return []
    return [{"type": "output", "structured": structured(value)}]
