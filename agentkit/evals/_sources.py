"""Cases from what users recorded: cassettes, dumped runs, sessions, a run's messages.

Each conversation gives a case per answered user turn: the prompt, the turns before it as
history, the recorded answer as the expected output (checked by ``MatchesExpected``), and
every tool result recorded up to the end of that turn, so a replayed run gets the same
tool outputs.

A cassette holds HTTP exchanges, not conversations: the conversation is read back from
the request bodies (in whichever server's dialect they were sent, tool results sent as
user text included) and the answers from the responses (plain or streamed), and the
exchanges of one conversation are joined (a request that carries an earlier exchange's
messages, or that repeats its user turn with the history before it left out, continues it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agentkit._errors import ConfigurationError
from agentkit.evals._case import Case, RecordedTool, arguments_data
from agentkit.evals._evaluators import MatchesExpected
from agentkit.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolMessage,
    UserMessage,
    load_messages,
)
from agentkit.models.parse import ResponseShapeError, StreamAccumulator, parse_response
from agentkit.testing.replay import _from_wire

__all__ = [
    "cases_from_cassettes",
    "cases_from_conversation",
    "cases_from_dumps",
    "conversations_in",
]

_TOOL_TEXT = (("Result of ", False), ("Error from ", True))
"""How a dialect that sends tool results as user text labels them (see models.dialect)."""


def _files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    suffixes: tuple[str, ...],
    what: str,
) -> list[Path]:
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes)
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigurationError(f"no {what} at {path}: give a file or a directory of them")
    if not found:
        shown = ", ".join(str(Path(p)) for p in items) or "(nothing given)"
        raise ConfigurationError(f"no {what} found in {shown} (looked for {', '.join(suffixes)})")
    return found


_NOT_SENT = ("finish_reason", "model_name", "thinking")
"""Fields of a recorded answer that a later request may not carry back (a dialect drops
thinking for servers that cannot take it): left out when joining exchanges."""


def _comparable(message: Message) -> dict[str, Any]:
    data = message.model_dump(mode="json")
    for name in _NOT_SENT:
        data.pop(name, None)
    if data.get("role") == "assistant" and not data.get("content"):
        data["content"] = None  # "" on some servers' wire (or thinking only): no text
    return data


def _same(a: list[Message], b: list[Message]) -> bool:
    return len(a) == len(b) and all(
        _comparable(x) == _comparable(y) for x, y in zip(a, b, strict=True)
    )


def _last_user(messages: list[Message]) -> int | None:
    found = [i for i, m in enumerate(messages) if isinstance(m, UserMessage)]
    return found[-1] if found else None


def _tool_results_from_text(messages: list[Message]) -> list[Message]:
    """Tool results a dialect sent as user text (``Result of NAME: ...``) back as tool messages."""
    out: list[Message] = []
    pending: list[tuple[str, str]] = []
    for message in messages:
        if isinstance(message, AssistantMessage):
            pending = [(c.id, c.name) for c in message.tool_calls]
        elif isinstance(message, ToolMessage):
            pending = [p for p in pending if p[0] != message.tool_call_id]
        elif isinstance(message, UserMessage) and pending and isinstance(message.content, str):
            call_id, name = pending[0]
            for label, is_error in _TOOL_TEXT:
                prefix = f"{label}{name}: "
                if message.content.startswith(prefix):
                    out.append(
                        ToolMessage(
                            tool_call_id=call_id,
                            name=name,
                            content=message.content[len(prefix) :],
                            is_error=is_error,
                        )
                    )
                    pending.pop(0)
                    break
            else:
                pending = []
                out.append(message)
            continue
        out.append(message)
    return out


def _answer(body: Any) -> AssistantMessage | None:
    """The assistant message of a recorded response body (plain JSON or a stream)."""
    try:
        if isinstance(body, Mapping) and "json" in body:
            return parse_response(json.dumps(body["json"]).encode(), None).message
        if isinstance(body, Mapping) and isinstance(body.get("sse"), list):
            stream = StreamAccumulator(None)
            for event in body["sse"]:
                data = event.get("data") if isinstance(event, Mapping) else None
                if isinstance(data, dict | list):
                    stream.feed(json.dumps(data))
                elif isinstance(data, str) and data.strip() not in ("", "[DONE]"):
                    stream.feed(data)
            return stream.response().message
        if isinstance(body, Mapping) and isinstance(body.get("string"), str):
            return parse_response(body["string"].encode(), None).message
    except ResponseShapeError:
        return None
    return None


def _request_messages(body: Any) -> list[Message] | None:
    payload: Any = None
    if isinstance(body, Mapping) and "json" in body:
        payload = body["json"]
    elif isinstance(body, Mapping) and isinstance(body.get("string"), str):
        try:
            payload = json.loads(body["string"])
        except ValueError:
            return None
    if not isinstance(payload, Mapping) or not isinstance(payload.get("messages"), list):
        return None
    return _tool_results_from_text(_from_wire(payload["messages"]))


def _continued(conversation: list[Message], sent: list[Message]) -> list[Message] | None:
    """The conversation ``sent`` continues, joined with it, or ``None`` when it is another."""
    if len(sent) >= len(conversation) and _same(conversation, sent[: len(conversation)]):
        return conversation + sent[len(conversation) :]  # the recorded answers, as answered
    mine, theirs = _last_user(conversation), _last_user(sent)
    if mine is None or theirs is None:
        return None
    turn, sent_turn = conversation[mine:], sent[theirs:]
    if len(sent_turn) >= len(turn) and _same(turn, sent_turn[: len(turn)]):
        return conversation[:mine] + sent_turn  # the history was left out of this request
    return None


def conversations_in(path: str | os.PathLike[str]) -> list[list[Message]]:
    """The conversations recorded in a cassette, each ending with its last answer."""
    from agentkit.testing.cassettes import load_cassette_data

    try:
        data = load_cassette_data(path)
    except Exception as exc:  # a YAML error: say which file
        raise ConfigurationError(f"cannot read cassette {path}: {exc}") from None
    interactions = data.get("interactions")
    if not isinstance(interactions, list):
        raise ConfigurationError(f"{path} is not a cassette (it has no 'interactions' list)")
    conversations: list[list[Message]] = []
    for interaction in interactions:
        request = (interaction or {}).get("request") or {}
        response = (interaction or {}).get("response") or {}
        sent = _request_messages(request.get("body"))
        status = (response.get("status") or {}).get("code", 200)
        answer = _answer(response.get("body")) if status == 200 else None
        if sent is None or answer is None:
            continue
        for n, conversation in enumerate(conversations):
            joined = _continued(conversation, sent)
            if joined is not None:
                conversations[n] = [*joined, answer]
                break
        else:
            conversations.append([*sent, answer])
    return conversations


def cases_from_conversation(messages: list[Message], label: str, *, source: str) -> list[Case]:
    """A case per answered user turn of ``messages``."""
    users = [i for i, m in enumerate(messages) if isinstance(m, UserMessage)]
    system = next((m.content for m in messages[:1] if isinstance(m, SystemMessage)), None)
    cases: list[Case] = []
    for k, start in enumerate(users):
        end = users[k + 1] if k + 1 < len(users) else len(messages)
        answers = [m for m in messages[start:end] if isinstance(m, AssistantMessage)]
        if not answers:
            continue
        final = answers[-1]
        expected: Any = None
        output_call: str | None = None
        if not final.tool_calls:
            expected = final.content
        elif len(final.tool_calls) == 1:  # the run ended on its output tool
            output_call = final.tool_calls[0].id
            expected = arguments_data(final.tool_calls[0].arguments)
        calls = {
            c.id: c for m in messages[:end] if isinstance(m, AssistantMessage) for c in m.tool_calls
        }
        recorded = [
            RecordedTool(
                tool=m.name,
                args=arguments_data(calls[m.tool_call_id].arguments),
                content=m.content,
                is_error=m.is_error,
            )
            for m in messages[:end]
            if isinstance(m, ToolMessage)
            and m.tool_call_id in calls
            and m.tool_call_id != output_call
        ]
        user = messages[start]
        assert isinstance(user, UserMessage)
        prompt = user.content if isinstance(user.content, str) else None
        history: list[Message] = [
            m
            for m in messages[: start if prompt is not None else start + 1]
            if not isinstance(m, SystemMessage)
        ]
        metadata: dict[str, Any] = {"source": source, "turn": k + 1}
        if system:
            metadata["system"] = system
        if final.model_name:
            metadata["model"] = final.model_name
        if output_call is not None:
            metadata["output_tool"] = final.tool_calls[0].name
        cases.append(
            Case(
                name=label if len(users) == 1 else f"{label}-turn{k + 1}",
                prompt=prompt,
                history=history,
                expected_output=expected,
                metadata=metadata,
                evaluators=[MatchesExpected()] if expected is not None else [],
                tool_results=_unique(recorded),
            )
        )
    return cases


def _unique(recorded: list[RecordedTool]) -> list[RecordedTool]:
    seen: list[RecordedTool] = []
    for item in recorded:
        if item not in seen:
            seen.append(item)
    return seen


def _uniquely_named(cases: list[Case]) -> list[Case]:
    seen: dict[str, int] = {}
    out = []
    for case in cases:
        count = seen.get(case.name, 0) + 1
        seen[case.name] = count
        out.append(case if count == 1 else case.model_copy(update={"name": f"{case.name}-{count}"}))
    return out


def cases_from_cassettes(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[Case]:
    """The cases of every conversation in the cassettes at ``paths``."""
    cases: list[Case] = []
    for path in _files(paths, (".yaml", ".yml"), "cassettes"):
        conversations = conversations_in(path)
        for n, conversation in enumerate(conversations, start=1):
            label = path.stem if len(conversations) == 1 else f"{path.stem}-{n}"
            cases += cases_from_conversation(conversation, label, source=str(path))
    return _uniquely_named(cases)


def cases_from_dumps(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[Case]:
    """The cases of every run saved with ``dump_messages`` at ``paths``."""
    cases: list[Case] = []
    for path in _files(paths, (".json",), "dumped runs"):
        try:
            messages = load_messages(path.read_bytes())
        except ValueError as exc:
            raise ConfigurationError(
                f"{path} is not a run saved with dump_messages: {str(exc)[:300]}"
            ) from None
        cases += cases_from_conversation(messages, path.stem, source=str(path))
    return _uniquely_named(cases)
