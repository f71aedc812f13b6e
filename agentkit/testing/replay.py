"""Replay a saved run as a model, and check conversations against Mistral's rules.

``ReplayModel`` plays back the assistant turns of a saved conversation (the
messages of a run, or the JSON of ``agentkit.messages.dump_messages``) in order,
with no HTTP at all, while the agent's tools run for real. Before answering
turn *k* it checks that the agent sent exactly the conversation that preceded
turn *k* in the recording; when it did not (a changed prompt, a tool that now
returns something else), it raises ``ReplayMismatchError`` with a unified diff::

    saved = dump_messages(result.messages)             # once, from a real run
    model = ReplayModel(saved)                         # in the test
    result = await Agent(model, tools=[...]).run("same prompt")
    model.assert_all_played()

``check_mistral_conversation`` and ``check_mistral_cassette`` validate a
conversation (or every request recorded in a cassette) with mistral-common's
validator, as agentkit would send it to Mistral Small 3.2, so a conversation
recorded on another server cannot hide one Mistral would reject. They need the
``mistral`` extra (``pip install -e '.[mistral]'`` in the clone).
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agentkit._errors import ConfigurationError, UserError
from agentkit.messages import (
    AssistantMessage,
    AudioPart,
    ContentPart,
    DocumentPart,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    load_messages,
)
from agentkit.models.base import (
    ModelLifecycle,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
)
from agentkit.usage import Usage

__all__ = [
    "MistralRuleError",
    "ReplayMismatchError",
    "ReplayModel",
    "check_mistral_cassette",
    "check_mistral_conversation",
    "check_mistral_request",
]

# Fields of an assistant message that record where it came from, not what was said.
_METADATA_FIELDS = ("finish_reason", "model_name")


class ReplayMismatchError(UserError, AssertionError):
    """The agent sent something the recording did not; the message holds a diff."""


class MistralRuleError(UserError, AssertionError):
    """A conversation breaks Mistral's message rules (mistral-common's validator).

    ``.request_index`` is the 1-based request that breaks them, ``.rule`` the
    validator's own message.
    """

    def __init__(self, message: str, *, request_index: int, rule: str) -> None:
        super().__init__(message)
        self.request_index = request_index
        self.rule = rule


def _as_messages(
    recording: Sequence[Message] | Sequence[Mapping[str, Any]] | str | bytes,
) -> list[Message]:
    if isinstance(recording, str | bytes):
        return load_messages(recording)
    items: list[Any] = list(recording)
    return load_messages([m if isinstance(m, Mapping) else m.model_dump() for m in items])


def _comparable(message: Message) -> dict[str, Any]:
    data = message.model_dump(mode="json")
    if data.get("role") == "assistant":
        for name in _METADATA_FIELDS:
            data.pop(name, None)
    return data


def _diff(expected: Sequence[Message], sent: Sequence[Message]) -> str:
    def lines(messages: Sequence[Message]) -> list[str]:
        return json.dumps(
            [_comparable(m) for m in messages], indent=2, ensure_ascii=False
        ).splitlines()

    return "\n".join(
        difflib.unified_diff(
            lines(expected), lines(sent), fromfile="recorded", tofile="sent", lineterm="", n=4
        )
    )


class ReplayModel(ModelLifecycle):
    """A model that answers with the assistant turns of a saved conversation, in order.

    ``recording`` is a list of messages, their JSON (``dump_messages``), or
    already-parsed JSON. Each request must carry exactly the conversation that
    preceded the next recorded assistant turn (leading system messages are not
    compared when the recording has none); otherwise ``ReplayMismatchError``.
    """

    def __init__(
        self,
        recording: Sequence[Message] | Sequence[Mapping[str, Any]] | str | bytes,
        *,
        name: str = "replay",
        profile: ModelProfile | None = None,
    ) -> None:
        self._messages = _as_messages(recording)
        self._turns = [i for i, m in enumerate(self._messages) if isinstance(m, AssistantMessage)]
        if not self._turns:
            raise ConfigurationError(
                "the recording has no assistant message, so there is nothing to replay: "
                "pass the messages of a finished run (result.messages or dump_messages(...))"
            )
        self._name = name
        self._profile = profile or ModelProfile(name="replay", provider="replay")
        self._played = 0

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> ReplayModel:
        """A replay of the JSON file written from ``dump_messages``."""
        return cls(Path(path).read_bytes(), **kwargs)

    @property
    def name(self) -> str:
        """The model name reported in responses."""
        return self._name

    @property
    def profile(self) -> ModelProfile:
        """A generic profile (or the one given), so the agent builds ordinary requests."""
        return self._profile

    @property
    def played(self) -> int:
        """How many assistant turns have been played back."""
        return self._played

    @property
    def all_played(self) -> bool:
        """Whether every recorded assistant turn was played back."""
        return self._played == len(self._turns)

    def assert_all_played(self) -> None:
        """Raise ``ReplayMismatchError`` if the agent stopped before the recording did."""
        if self.all_played:
            return
        left = [self._messages[i] for i in self._turns[self._played :]]
        shown = "\n".join(
            f"  turn {self._played + n + 1}: {_summary(m)}" for n, m in enumerate(left)
        )
        raise ReplayMismatchError(
            f"the agent made {self._played} model requests but the recording has "
            f"{len(self._turns)} assistant turns; never played:\n{shown}"
        )

    def _next(self, request: ModelRequest) -> AssistantMessage:
        turn = self._played
        sent = list(request.messages)
        if turn >= len(self._turns):
            raise ReplayMismatchError(
                f"the agent made model request #{turn + 1}, but the recording has only "
                f"{len(self._turns)} assistant turns. The last message sent was: "
                f"{_summary(sent[-1]) if sent else '(none)'}"
            )
        index = self._turns[turn]
        expected = self._messages[:index]
        if not any(isinstance(m, SystemMessage) for m in expected[:1]):
            while sent and isinstance(sent[0], SystemMessage):
                sent.pop(0)
        if [_comparable(m) for m in sent] != [_comparable(m) for m in expected]:
            raise ReplayMismatchError(
                f"model request #{turn + 1} differs from the recording, so replaying its answer "
                f"would be wrong. What changed (- recorded, + sent):\n{_diff(expected, sent)}"
            )
        self._played += 1
        message = self._messages[index]
        assert isinstance(message, AssistantMessage)
        return message

    def _response(self, message: AssistantMessage) -> ModelResponse:
        finish = message.finish_reason or ("tool_calls" if message.tool_calls else "stop")
        return ModelResponse(
            message=message,
            usage=Usage(requests=1),
            finish_reason=finish,
            model_name=message.model_name or self._name,
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """The next recorded assistant turn, after checking the conversation sent."""
        yield self._response(self._next(request))

    def __repr__(self) -> str:
        return f"ReplayModel({len(self._turns)} turns, {self._played} played)"


def _summary(message: Message) -> str:
    if isinstance(message, AssistantMessage) and message.tool_calls:
        calls = ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
        text = f"assistant calls {calls}"
    else:
        text = f"{message.role}: {message.content!r}"
    return text if len(text) <= 120 else text[:117] + "..."


# --------------------------------------------------------------------------- Mistral's rules


def _mistral_common() -> tuple[Any, Any, Any, Any]:
    try:
        request_mod = importlib.import_module("mistral_common.protocol.instruct.request")
        validator_mod = importlib.import_module("mistral_common.protocol.instruct.validator")
        exceptions = importlib.import_module("mistral_common.exceptions")
        tokens = importlib.import_module("mistral_common.tokens.tokenizers.base")
    except ImportError as error:
        raise ConfigurationError(
            "checking conversations against Mistral's rules needs mistral-common, which is not "
            "installed: pip install -e '.[mistral]' in the agentkit clone (or pip install "
            "mistral-common)"
        ) from error
    return request_mod, validator_mod, exceptions, tokens


def _from_wire(messages: Iterable[Mapping[str, Any]]) -> list[Message]:
    """Chat-completions messages (any server's dialect) back as agentkit messages."""
    out: list[Message] = []
    names: dict[str, str] = {}
    for wire in messages:
        role = wire.get("role")
        content = wire.get("content")
        if role == "system":
            out.append(SystemMessage(content=_text_of(content)))
        elif role == "user":
            if isinstance(content, list):
                out.append(UserMessage(content=tuple(_part_from_wire(p) for p in content)))
            else:
                out.append(UserMessage(content=_text_of(content)))
        elif role == "assistant":
            calls = []
            for call in wire.get("tool_calls") or []:
                function = call.get("function") or {}
                names[str(call.get("id"))] = str(function.get("name", ""))
                calls.append(
                    ToolCall(
                        id=str(call.get("id")),
                        name=str(function.get("name", "")),
                        arguments=str(function.get("arguments", "")),
                    )
                )
            thinking = [
                ThinkingPart(text=_text_of(part.get("thinking")))
                for part in (content if isinstance(content, list) else ())
                if isinstance(part, Mapping) and part.get("type") == "thinking"
            ]
            if isinstance(wire.get("reasoning_content"), str):
                thinking.insert(0, ThinkingPart(text=wire["reasoning_content"]))
            out.append(
                AssistantMessage(
                    content=_text_of(content) if content else None,
                    tool_calls=tuple(calls),
                    thinking=tuple(thinking),
                )
            )
        elif role == "tool":
            call_id = str(wire.get("tool_call_id"))
            out.append(
                ToolMessage(
                    tool_call_id=call_id,
                    name=str(wire.get("name") or names.get(call_id, "")),
                    content=_text_of(content),
                )
            )
    return out


def _part_from_wire(part: Mapping[str, Any]) -> ContentPart:
    """A user content part in any server's dialect (OpenAI's or Mistral's) as agentkit's."""
    kind = part.get("type")
    if kind == "image_url":
        url = part["image_url"]
        return ImagePart(url=url["url"] if isinstance(url, dict) else url)
    if kind == "document_url":
        return DocumentPart(url=part["document_url"], name=part.get("document_name"))
    if kind == "file":
        file = part.get("file")
        if isinstance(file, Mapping):  # OpenAI: {"file": {"file_data" | "file_id", ...}}
            if file.get("file_id") is not None:
                return DocumentPart(file_id=file["file_id"], name=file.get("filename"))
            return DocumentPart(url=file.get("file_data"), name=file.get("filename"))
        return DocumentPart(file_id=part["file_id"])
    if kind == "input_audio":
        audio = part["input_audio"]
        if isinstance(audio, Mapping):
            return AudioPart(data=audio["data"], format=audio.get("format") or "wav")
        return AudioPart(data=audio, format="wav")  # Mistral sends no format
    return TextPart(text=str(part.get("text", "")))


def _text_of(content: Any) -> str:
    """The text of a message's content (of its ``text`` parts, when a list)."""
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, Mapping) and p.get("type", "text") == "text"
        )
    return "" if content is None else str(content)


_UNKNOWN_TO_MISTRAL_COMMON = frozenset({"document_url", "file"})
"""Chunk types Mistral's API takes but mistral-common (1.x) cannot parse."""


def _for_mistral_common(wire_messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The wire messages as mistral-common's request model reads them: it takes a
    thinking chunk's ``thinking`` as one string, where Mistral's API (and so agentkit)
    sends a list of text parts, so the texts are joined; it cannot parse the document
    chunks Mistral's API takes (``document_url``, ``file``), so they become text
    placeholders and the rules it knows (order, ids, roles) are still checked."""
    out = []
    for message in wire_messages:
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(p, Mapping)
            and (p.get("type") == "thinking" or p.get("type") in _UNKNOWN_TO_MISTRAL_COMMON)
            for p in content
        ):
            message = {**message, "content": [_mistral_common_chunk(p) for p in content]}
        out.append(message)
    return out


def _mistral_common_chunk(part: Any) -> Any:
    if not isinstance(part, Mapping):
        return part
    if part.get("type") == "thinking":
        return {**part, "thinking": _text_of(part["thinking"])}
    if part.get("type") in _UNKNOWN_TO_MISTRAL_COMMON:
        return {"type": "text", "text": f"[{part['type']}]"}
    return part


def _validate(
    wire_messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    request_index: int,
    version: int,
    where: str,
    model: str,
) -> None:
    request_mod, validator_mod, exceptions, tokens = _mistral_common()
    validator = validator_mod.get_validator(
        tokens.TokenizerVersion(f"v{version}"), validator_mod.ValidationMode.serving
    )
    try:
        request = request_mod.ChatCompletionRequest.from_openai(
            _for_mistral_common(wire_messages), tools, model=model
        )
        validator.validate_request(request)
    except (exceptions.MistralCommonException, ValueError) as error:
        rule = str(error)
        shown = json.dumps(wire_messages[-3:], indent=2, ensure_ascii=False)
        raise MistralRuleError(
            f"{where}: request #{request_index} breaks Mistral's message rules: {rule}\n"
            f"Last messages as they would be sent to Mistral:\n{shown}",
            request_index=request_index,
            rule=rule,
        ) from error


def check_mistral_conversation(
    recording: Sequence[Message] | Sequence[Mapping[str, Any]] | str | bytes,
    *,
    model: str = "mistral-small-2506",
    tokenizer_version: int = 11,
) -> None:
    """Check every request of a saved conversation as agentkit would send it to Mistral.

    Each prefix that ends before an assistant turn is converted with the Mistral
    dialect of ``model`` and validated by mistral-common (serving mode). Raises
    ``MistralRuleError`` naming the first request that breaks a rule.
    """
    from agentkit.models.dialect import convert_messages
    from agentkit.models.profiles import profile_for

    profile = profile_for(model)
    messages = _as_messages(recording)
    ends = [i for i, m in enumerate(messages) if isinstance(m, AssistantMessage) and i > 0]
    if not ends or not isinstance(messages[-1], AssistantMessage):
        ends.append(len(messages))
    for n, end in enumerate(ends, start=1):
        wire = convert_messages(messages[:end], profile)
        _validate(
            wire,
            None,
            request_index=n,
            version=tokenizer_version,
            where="conversation",
            model=model,
        )


def check_mistral_request(
    body: Mapping[str, Any],
    *,
    model: str = "mistral-small-2506",
    tokenizer_version: int = 11,
) -> None:
    """Check one chat request body, exactly as it was sent, with mistral-common's
    validator (serving mode): its messages and tools. Raises ``MistralRuleError``.

    Thinking chunks are read as mistral-common's request model takes them (their text
    parts joined into one string): the only change made to what was sent.
    """
    _validate(
        list(body["messages"]),
        body.get("tools"),
        request_index=1,
        version=tokenizer_version,
        where="request",
        model=model,
    )


def check_mistral_cassette(
    path: str | os.PathLike[str],
    *,
    model: str = "mistral-small-2506",
    tokenizer_version: int = 11,
) -> int:
    """Check every chat request recorded in a cassette as agentkit would send it to Mistral.

    The recorded messages (in whichever server's dialect they were sent) are
    read back, converted with the Mistral dialect of ``model`` and validated,
    with the recorded tools, by mistral-common. Returns how many requests were
    checked; raises ``MistralRuleError`` naming the cassette and the request.
    """
    from agentkit.models.dialect import convert_messages
    from agentkit.models.profiles import profile_for

    yaml = importlib.import_module("yaml")
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    profile = profile_for(model)
    checked = 0
    for interaction in data.get("interactions", []):
        body = (interaction.get("request") or {}).get("body")
        if isinstance(body, Mapping) and "json" in body:
            payload = body["json"]
        elif isinstance(body, Mapping) and isinstance(body.get("string"), str):
            try:
                payload = json.loads(body["string"])
            except ValueError:
                continue
        else:
            continue
        if not isinstance(payload, Mapping) or not isinstance(payload.get("messages"), list):
            continue
        checked += 1
        wire = convert_messages(_from_wire(payload["messages"]), profile)
        _validate(
            wire,
            payload.get("tools"),
            request_index=checked,
            version=tokenizer_version,
            where=f"cassette {os.fspath(path)}",
            model=model,
        )
    return checked
