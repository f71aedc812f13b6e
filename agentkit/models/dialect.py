"""A ``ModelRequest`` in a server's dialect: the chat-completions JSON body, by profile flags.

Every provider quirk is decided here from ``ModelProfile`` flags, never from the
provider's name:

- messages in OpenAI's chat format; user images as ``image_url`` parts, documents and
  audio by ``media_style`` (OpenAI ``file`` / ``input_audio`` parts, Mistral
  ``document_url`` / ``file`` / ``input_audio`` chunks), each refused before sending for a
  profile without the capability, and their inline bytes checked against
  ``max_document_bytes`` / ``max_audio_bytes``; tool messages text-only, images,
  documents and audio a tool returned moved into a user message after the run of tool
  messages;
- ``tool_results_as_user_text``: each tool result sent as a user message naming
  the tool (``Result of NAME: ...``, ``Error from NAME: ...``);
- ``tool_call_id_style == "mistral"``: tool-call ids mapped to 9 alphanumerics,
  deterministically (the same id maps the same every time the conversation is
  resent), distinct within the conversation; the stored messages keep the
  original ids;
- ``send_thinking``: the thinking of an assistant message (``ThinkingPart``) made by
  this profile's provider sent back in the server's format (Mistral's ``thinking``
  chunks leading the content list, or a ``reasoning_content`` field); other servers get
  the message without it;
- ``strict_message_order``: the conversation repaired into Mistral's order
  (every call answered before the next turn, no user right after a tool result,
  no empty assistant message, last message user or tool);
- ``tool_choice`` mapped (``required``/``any`` to ``tool_choice_required``, a
  named tool where the server cannot force "some tool"); ``default_tool_choice``
  sent with tools when the request names none;
- ``max_tokens`` always sent under ``max_tokens_field``; ``rejected_fields``
  never sent; ``renamed_fields`` renamed; instructions under ``system_role``;
- ``ModelSettings.reasoning`` as ``reasoning_effort`` where the profile lists the level
  (refused when it does not, left out for models that do not reason); ``prompt_cache_key``
  where ``supports_prompt_cache_key``; ``prediction`` as predicted content; Mistral's
  ``guardrails`` (refused where the profile cannot take them);
- structured output as native ``json_schema``, or ``json_object`` (with the
  schema where ``json_object_with_schema``).

Static parts (tool definitions) are encoded once per tools tuple and spliced
into the body as JSON bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import pydantic_core

from agentkit._errors import ConfigurationError, UnsupportedContentError
from agentkit.messages import (
    AssistantMessage,
    AudioPart,
    DocumentPart,
    ImagePart,
    MediaPart,
    Message,
    SystemMessage,
    TextPart,
    ThinkingPart,
    ToolMessage,
    UserMessage,
)
from agentkit.models.base import (
    MistralGuardrail,
    ModelProfile,
    ModelRequest,
    ModelSettings,
    OutputSpec,
    ToolChoice,
    ToolDefinition,
)

__all__ = [
    "BRIDGE_TEXT",
    "MISSING_RESULT_TEXT",
    "TRIMMED_HISTORY_TEXT",
    "RequestEncoder",
    "convert_messages",
    "encode_tools",
    "mistral_tool_call_id",
    "response_format",
    "tool_choice_value",
    "wire_tool_name",
]

BRIDGE_TEXT = "I have the tool results."
"""Assistant text inserted between a tool result and a user message for servers that
reject a user message right after a tool message (``strict_message_order``)."""

MISSING_RESULT_TEXT = "No result: this tool call was not run."
"""Tool-message text sent for a call the conversation never answered
(``strict_message_order``)."""

TRIMMED_HISTORY_TEXT = "(Earlier messages of this conversation are not shown.)"
"""User text put before a conversation that starts with an assistant message (a trimmed
history such as ``messages[-12:]``) for servers that want a user turn first
(``strict_message_order``)."""

_MISTRAL_ID = re.compile(r"[a-zA-Z0-9]{9}")
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_NOT_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_-]")


def wire_tool_name(name: str) -> str:
    """``name`` in the form servers accept (``^[a-zA-Z0-9_-]{1,64}$``).

    A valid name is kept. An invalid one can only be a call of a tool that does not
    exist (the loop answered it "Unknown tool", naming it as the model wrote it); it is
    resent with other characters as ``_``, cut to 64, or ``invalid_tool_name`` if empty,
    so the next request is not refused for it.
    """
    if _TOOL_NAME.fullmatch(name):
        return name
    return _NOT_NAME_CHAR.sub("_", name)[:64] or "invalid_tool_name"


_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@lru_cache(maxsize=8192)
def mistral_tool_call_id(original: str, salt: int = 0) -> str:
    """A 9-alphanumeric tool-call id for ``original``, the same every time.

    An id that is already 9 alphanumerics is kept (salt 0); any other is hashed.
    ``salt`` > 0 gives another candidate when the first collides in a conversation.
    """
    if salt == 0 and _MISTRAL_ID.fullmatch(original):
        return original
    import hashlib  # imported on first use: import agentkit stays light

    digest = hashlib.blake2b(f"{salt}\x00{original}".encode(), digest_size=8).digest()
    n = int.from_bytes(digest, "big")
    chars = []
    for _ in range(9):
        n, r = divmod(n, 62)
        chars.append(_ALPHABET[r])
    return "".join(chars)


def _no_vision(profile: ModelProfile, where: str) -> UnsupportedContentError:
    return UnsupportedContentError(
        f"The conversation has an image ({where}), but profile {profile.name!r} has no vision. "
        "Use a vision model such as mistral-small-2506, register a profile with "
        "supports_vision=True, or send text only."
    )


def _no_documents(profile: ModelProfile, where: str) -> UnsupportedContentError:
    return UnsupportedContentError(
        f"The conversation has a document ({where}), but profile {profile.name!r} does not "
        "take documents. Use a model that does (mistral-small-2506, gpt-4o), register a "
        "profile with supports_documents=True, or send the document's text instead."
    )


def _no_audio(profile: ModelProfile, where: str) -> UnsupportedContentError:
    return UnsupportedContentError(
        f"The conversation has an audio clip ({where}), but profile {profile.name!r} does not "
        "take audio. Use an audio model (voxtral-small-latest, gpt-4o-audio-preview), register "
        "a profile with supports_audio=True, or send a transcript instead."
    )


def _too_large(kind: str, size: int, limit: int, profile: ModelProfile) -> UnsupportedContentError:
    fix = (
        "upload the document to the provider and send DocumentPart.from_file_id(...), or "
        "send fewer or smaller documents"
        if kind == "documents"
        else "send a shorter or more compressed clip (mp3 rather than wav)"
    )
    return UnsupportedContentError(
        f"The request carries {size:,} bytes of {kind} inline, over the {limit:,} bytes "
        f"profile {profile.name!r} takes in one request (every earlier turn's {kind} are "
        f"sent again). Nothing was sent; {fix}."
    )


def _image_part(part: ImagePart) -> dict[str, Any]:
    image: dict[str, Any] = {"url": part.url}
    if part.detail is not None:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _document_part(part: DocumentPart, profile: ModelProfile) -> dict[str, Any]:
    if profile.media_style == "mistral":
        if part.file_id is not None:
            return {"type": "file", "file_id": part.file_id}
        chunk: dict[str, Any] = {"type": "document_url", "document_url": part.url}
        if part.name is not None:
            chunk["document_name"] = part.name
        return chunk
    if part.file_id is not None:
        return {"type": "file", "file": {"file_id": part.file_id}}
    url = part.url or ""
    if not url.startswith("data:"):
        shown = url if len(url) <= 80 else url[:77] + "..."
        raise UnsupportedContentError(
            f"The document {shown!r} is a URL, but profile {profile.name!r} takes documents "
            "only inline or by file id (OpenAI's chat completions fetch no URLs). Download it "
            "and send DocumentPart.from_bytes(...), or upload it and send "
            "DocumentPart.from_file_id(...)."
        )
    return {"type": "file", "file": {"filename": part.name or _file_name(part), "file_data": url}}


def _file_name(part: DocumentPart) -> str:
    import mimetypes  # on first use: import agentkit stays light

    extension = mimetypes.guess_extension(part.media_type or "") or ""
    return f"document{extension}"


def _audio_part(part: AudioPart, profile: ModelProfile) -> dict[str, Any]:
    if profile.media_style == "mistral":
        return {"type": "input_audio", "input_audio": part.data}
    return {"type": "input_audio", "input_audio": {"data": part.data, "format": part.format}}


class _Converter:
    """One pass over the conversation: wire messages, id mapping, order repair."""

    __slots__ = (
        "audio_bytes",
        "document_bytes",
        "map_ids",
        "never_null",
        "out",
        "pending",
        "pending_images",
        "profile",
        "strict",
        "used",
    )

    def __init__(self, profile: ModelProfile) -> None:
        self.profile = profile
        self.map_ids = profile.tool_call_id_style == "mistral"
        self.strict = profile.strict_message_order
        self.never_null = profile.assistant_content_never_null
        self.out: list[dict[str, Any]] = []
        self.used: set[str] = set()
        # calls of the latest assistant message not answered yet: (original id, wire id, name)
        self.pending: list[tuple[str, str, str]] = []
        self.pending_images: list[dict[str, Any]] = []
        self.document_bytes = 0
        self.audio_bytes = 0

    def media(self, part: MediaPart, where: str) -> dict[str, Any]:
        """A non-text part on the wire, refused where the profile cannot take it."""
        profile = self.profile
        if isinstance(part, ImagePart):
            if not profile.supports_vision:
                raise _no_vision(profile, where)
            return _image_part(part)
        if isinstance(part, DocumentPart):
            if not profile.supports_documents:
                raise _no_documents(profile, where)
            self.document_bytes += part.size
            return _document_part(part, profile)
        if not profile.supports_audio:
            raise _no_audio(profile, where)
        formats = profile.audio_formats
        if formats is not None and part.format not in formats:
            raise UnsupportedContentError(
                f"The conversation has {part.format!r} audio ({where}), but profile "
                f"{profile.name!r} takes only {', '.join(sorted(formats))}. Convert the clip "
                "(ffmpeg -i clip.flac clip.mp3) and send AudioPart.from_path('clip.mp3')."
            )
        self.audio_bytes += part.size
        return _audio_part(part, profile)

    def user_content(self, msg: UserMessage) -> str | list[dict[str, Any]]:
        content = msg.content
        if isinstance(content, str):
            return content
        return [
            {"type": "text", "text": part.text}
            if isinstance(part, TextPart)
            else self.media(part, "in a user message")
            for part in content
        ]

    def wire_id(self, original: str) -> str:
        if not self.map_ids:  # ids kept as given, a repeated one made distinct
            candidate, n = original, 1
            while candidate in self.used:
                n += 1
                candidate = f"{original}_{n}"
            self.used.add(candidate)
            return candidate
        salt = 0
        candidate = mistral_tool_call_id(original, 0)
        while candidate in self.used:
            salt += 1
            candidate = mistral_tool_call_id(original, salt)
        self.used.add(candidate)
        return candidate

    def last_role(self) -> str | None:
        return self.out[-1]["role"] if self.out else None

    def close_tool_run(self) -> None:
        """Before any non-tool message: answer unanswered calls, then flush tool images."""
        if self.pending:
            # Every server refuses a call left unanswered before the next turn.
            for _original, wire, _name in self.pending:
                self.out.append(
                    {"role": "tool", "tool_call_id": wire, "content": MISSING_RESULT_TEXT}
                )
            self.pending = []
        if self.pending_images:
            self.add_user(self.pending_images)
            self.pending_images = []

    def add_user(self, content: str | list[dict[str, Any]]) -> None:
        if self.strict and self.last_role() == "tool":
            self.out.append({"role": "assistant", "content": BRIDGE_TEXT})
        self.out.append({"role": "user", "content": content})

    def system(self, msg: SystemMessage) -> None:
        self.close_tool_run()
        if self.strict and self.last_role() in ("assistant", "tool"):
            self.add_user(msg.content)
        else:
            self.out.append({"role": self.profile.system_role, "content": msg.content})

    def user(self, msg: UserMessage) -> None:
        self.close_tool_run()
        self.add_user(self.user_content(msg))

    def assistant(self, msg: AssistantMessage) -> None:
        self.close_tool_run()
        content = msg.content
        calls = msg.tool_calls
        if self.strict and not content and not calls:
            return  # an empty assistant message is rejected and says nothing
        if self.strict and all(m["role"] == "system" for m in self.out):
            self.add_user(TRIMMED_HISTORY_TEXT)  # a trimmed history: a user turn comes first
        if content is None and self.never_null:
            content = ""
        wire: dict[str, Any] = {"role": "assistant", "content": content}
        thinking = self.thinking_of(msg)
        if thinking and self.profile.send_thinking == "mistral":
            chunks: list[dict[str, Any]] = [
                {"type": "thinking", "thinking": [{"type": "text", "text": part.text}]}
                for part in thinking
            ]
            if content:
                chunks.append({"type": "text", "text": content})
            wire["content"] = chunks
        elif thinking and self.profile.send_thinking == "reasoning_content":
            wire["reasoning_content"] = "\n\n".join(part.text for part in thinking)
        if calls:
            wire_calls = []
            pending = []
            for call in calls:
                wid = self.wire_id(call.id)
                pending.append((call.id, wid, call.name))
                wire_calls.append(
                    {
                        "id": wid,
                        "type": "function",
                        "function": {
                            "name": wire_tool_name(call.name),
                            "arguments": call.arguments,
                        },
                    }
                )
            wire["tool_calls"] = wire_calls
            self.pending = pending
        self.out.append(wire)

    def thinking_of(self, msg: AssistantMessage) -> list[ThinkingPart]:
        """The message's thinking this server takes back: made by its provider (or of
        unknown origin), not empty; none when the profile sends no thinking."""
        if not msg.thinking or self.profile.send_thinking == "none":
            return []
        provider = self.profile.provider
        return [
            part
            for part in msg.thinking
            if part.text and (part.provider is None or part.provider == provider)
        ]

    def tool(self, msg: ToolMessage) -> None:
        if self.profile.tool_results_as_user_text:
            self.tool_as_user(msg)
            return
        wid: str | None = None
        for i, (original, candidate, _name) in enumerate(self.pending):
            if original == msg.tool_call_id:
                wid = candidate
                del self.pending[i]
                break
        if wid is None:
            # An answer to no call in reach (every server refuses it): keep what it says.
            self.close_tool_run()
            self.add_user(f"Result of tool {msg.name!r}:\n{msg.content}")
            self.collect_images(msg, msg.tool_call_id)
            self.close_tool_run()
            return
        self.out.append({"role": "tool", "tool_call_id": wid, "content": msg.content})
        self.collect_images(msg, wid)

    def tool_as_user(self, msg: ToolMessage) -> None:
        """The tool result as a user message naming the tool (its images follow it)."""
        wid = msg.tool_call_id
        for i, (original, candidate, _name) in enumerate(self.pending):
            if original == msg.tool_call_id:
                wid = candidate
                del self.pending[i]
                break
        if self.pending_images:  # an earlier result's images go right after its text
            self.add_user(self.pending_images)
            self.pending_images = []
        label = "Error from" if msg.is_error else "Result of"
        self.add_user(f"{label} {msg.name}: {msg.content}")
        self.collect_images(msg, wid)

    def collect_images(self, msg: ToolMessage, wire_id: str) -> None:
        """A tool's images, documents and audio, queued for the user message after the run."""
        if not msg.images and not msg.attachments:
            return
        where = f"returned by tool {msg.name!r}"
        kind = "Files" if msg.attachments else "Images"
        self.pending_images.append(
            {"type": "text", "text": f"{kind} returned by tool {msg.name!r} (call {wire_id}):"}
        )
        self.pending_images.extend(self.media(p, where) for p in (*msg.images, *msg.attachments))

    def finish(self) -> list[dict[str, Any]]:
        self.close_tool_run()
        profile = self.profile
        limit = profile.max_document_bytes
        if limit is not None and self.document_bytes > limit:
            raise _too_large("documents", self.document_bytes, limit, profile)
        limit = profile.max_audio_bytes
        if limit is not None and self.audio_bytes > limit:
            raise _too_large("audio", self.audio_bytes, limit, profile)
        out = self.out
        if self.strict and out and out[-1]["role"] == "assistant" and "tool_calls" not in out[-1]:
            out[-1]["prefix"] = True  # Mistral continues a final assistant message
        return out


def convert_messages(messages: Sequence[Message], profile: ModelProfile) -> list[dict[str, Any]]:
    """The conversation as chat-completions ``messages``, in the profile's dialect."""
    conv = _Converter(profile)
    for msg in messages:
        role = msg.role
        if role == "tool":
            conv.tool(msg)  # type: ignore[arg-type]
        elif role == "assistant":
            conv.assistant(msg)  # type: ignore[arg-type]
        elif role == "user":
            conv.user(msg)  # type: ignore[arg-type]
        else:
            conv.system(msg)  # type: ignore[arg-type]
    return conv.finish()


def _strict_schema(schema: Mapping[str, Any], profile: ModelProfile) -> dict[str, Any] | None:
    """The strict form of ``schema`` for this server, or ``None`` when it has none."""
    style = profile.strict_schema
    if style == "none":
        return None
    from agentkit.schema import to_strict

    return to_strict(schema, style)


def encode_tools(tools: Sequence[ToolDefinition], profile: ModelProfile) -> list[dict[str, Any]]:
    """Tool definitions as chat-completions ``tools`` (strict where asked and possible)."""
    encoded = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.name, "description": tool.description}
        parameters: Mapping[str, Any] = tool.parameters
        if tool.strict:
            strict = _strict_schema(parameters, profile)
            if strict is not None:
                parameters = strict
                function["strict"] = True
        function["parameters"] = dict(parameters)
        encoded.append({"type": "function", "function": function})
    return encoded


def tool_choice_value(
    choice: ToolChoice | None, tools: Sequence[ToolDefinition], profile: ModelProfile
) -> str | dict[str, Any] | None:
    """``tool_choice`` in the profile's dialect; ``None`` means "do not send it".

    With tools and no ``choice``, the profile's ``default_tool_choice`` (if any) is used.
    """
    if not tools:
        return None
    if choice is None:
        choice = profile.default_tool_choice
        if choice is None:
            return None
    if choice in ("auto", "none"):
        return choice
    if choice in ("required", "any"):
        if profile.tool_choice_required is not None:
            return profile.tool_choice_required
        if len(tools) == 1 and profile.supports_named_tool_choice:
            return {"type": "function", "function": {"name": tools[0].name}}
        return "auto"
    if profile.supports_named_tool_choice:
        return {"type": "function", "function": {"name": choice}}
    return profile.tool_choice_required or "auto"


def response_format(output: OutputSpec | None, profile: ModelProfile) -> dict[str, Any] | None:
    """``response_format`` for the output spec in the profile's dialect, or ``None``."""
    if output is None or output.mode == "tool":
        return None
    if output.mode == "native" and profile.supports_json_schema:
        schema: Mapping[str, Any] = output.schema
        strict = False
        if output.strict:
            strict_schema = _strict_schema(schema, profile)
            if strict_schema is not None:
                schema, strict = strict_schema, True
        json_schema: dict[str, Any] = {
            "name": output.name,
            "schema": dict(schema),
            "strict": strict,
        }
        if output.description:
            json_schema["description"] = output.description
        return {"type": "json_schema", "json_schema": json_schema}
    if not profile.supports_json_object:
        return None
    fmt: dict[str, Any] = {"type": "json_object"}
    if profile.json_object_with_schema:
        fmt["schema"] = dict(output.schema)
    return fmt


class RequestEncoder:
    """Encodes requests for one model name and profile, caching what is static.

    ``encode()`` returns the request body as JSON bytes; ``body()`` the same as a
    dict (for tests and debugging).
    """

    __slots__ = (
        "_fields",
        "_formats",
        "_merged",
        "_model",
        "_profile",
        "_settings",
        "_tools",
        "model_name",
    )

    def __init__(self, model_name: str, profile: ModelProfile, settings: ModelSettings) -> None:
        self.model_name = model_name
        self._profile = profile
        self._settings = settings
        self._model = pydantic_core.to_json(model_name)
        renames = dict(profile.renamed_fields)
        rejected = profile.rejected_fields
        names = (
            "max_tokens",
            "temperature",
            "top_p",
            "seed",
            "stop",
            "parallel_tool_calls",
            "stream_options",
            "tool_choice",
            "response_format",
            "reasoning_effort",
            "prompt_cache_key",
            "prediction",
            "guardrails",
        )
        fields: dict[str, str | None] = {}
        for name in names:
            wire = profile.max_tokens_field if name == "max_tokens" else renames.get(name, name)
            fields[name] = None if wire in rejected else wire
        self._fields = fields
        # id(tools) -> (tools, JSON bytes of the encoded tools); the tools object is kept
        # alive by the entry, so its id cannot be reused while cached.
        self._tools: dict[int, tuple[object, bytes]] = {}
        self._formats: dict[int, tuple[object, dict[str, Any] | None]] = {}
        # the last request's settings, and the model's merged with them
        self._merged: tuple[ModelSettings, ModelSettings] | None = None

    def _tools_json(self, tools: Sequence[ToolDefinition]) -> bytes:
        entry = self._tools.get(id(tools))
        if entry is not None and entry[0] is tools:
            return entry[1]
        data = pydantic_core.to_json(encode_tools(tools, self._profile))
        if len(self._tools) > 64:
            self._tools.clear()
        self._tools[id(tools)] = (tools, data)
        return data

    def _format(self, output: OutputSpec) -> dict[str, Any] | None:
        entry = self._formats.get(id(output))
        if entry is not None and entry[0] is output:
            return entry[1]
        fmt = response_format(output, self._profile)
        if len(self._formats) > 64:
            self._formats.clear()
        self._formats[id(output)] = (output, fmt)
        return fmt

    def _settings_for(self, request: ModelRequest) -> ModelSettings:
        """The model's settings merged with the request's; merged once for a run (its
        requests share one settings object, as do the runs of an agent given none)."""
        override = request.settings
        last = self._merged
        if last is not None and last[0] is override:
            return last[1]
        settings = self._settings.merged(override)
        self._merged = (override, settings)
        return settings

    def _options(self, body: dict[str, Any], settings: ModelSettings) -> None:
        """The reasoning level, cache key, predicted output and guardrails, where set and
        where the profile takes them; a level the model lacks and guardrails a profile
        cannot take are refused here, before anything is sent."""
        profile = self._profile
        fields = self._fields
        level = settings.reasoning
        if level is not None and profile.reasoning_levels:
            if level not in profile.reasoning_levels:
                raise ConfigurationError(
                    f"ModelSettings(reasoning={level!r}): model {self.model_name!r} (profile "
                    f"{profile.name!r}) accepts reasoning "
                    f"{', '.join(repr(x) for x in profile.reasoning_levels)}. Pick one of "
                    "those, or leave reasoning unset for the model's default."
                )
            if (name := fields["reasoning_effort"]) is not None:
                body[name] = level
        key = settings.prompt_cache_key
        if key is not None and profile.supports_prompt_cache_key:
            if (name := fields["prompt_cache_key"]) is not None:
                body[name] = key
        if settings.prediction is not None and (name := fields["prediction"]) is not None:
            body[name] = {"type": "content", "content": settings.prediction}
        guardrails = settings.guardrails
        if guardrails is not None:
            if not profile.supports_guardrails:
                raise ConfigurationError(
                    f"ModelSettings(guardrails=...) is Mistral's moderation, but model "
                    f"{self.model_name!r} (profile {profile.name!r}) cannot take it: the "
                    "request was not sent. Use a Mistral model, or drop the guardrails."
                )
            entries = (guardrails,) if isinstance(guardrails, MistralGuardrail) else guardrails
            if entries and (name := fields["guardrails"]) is not None:
                body[name] = [g.wire() for g in entries]

    def encode(self, request: ModelRequest, *, stream: bool = False) -> bytes:
        """The request body as JSON bytes."""
        profile = self._profile
        fields = self._fields
        settings = self._settings_for(request)
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": convert_messages(request.messages, profile),
        }
        tools = request.tools
        if tools:
            choice = tool_choice_value(request.tool_choice, tools, profile)
            if choice is not None and (name := fields["tool_choice"]) is not None:
                body[name] = choice
        if request.output is not None:
            fmt = self._format(request.output)
            if fmt is not None and (name := fields["response_format"]) is not None:
                body[name] = fmt
        if (name := fields["max_tokens"]) is not None:
            body[name] = settings.max_tokens or profile.max_output_tokens
        temperature = settings.temperature
        if temperature is None:
            temperature = profile.default_temperature
        if temperature is not None and (name := fields["temperature"]) is not None:
            body[name] = temperature
        if settings.top_p is not None and (name := fields["top_p"]) is not None:
            body[name] = settings.top_p
        if settings.seed is not None and (name := fields["seed"]) is not None:
            body[name] = settings.seed
        if settings.stop is not None and (name := fields["stop"]) is not None:
            body[name] = list(settings.stop)
        if (
            tools
            and settings.parallel_tool_calls is not None
            and profile.supports_parallel_tool_calls
            and (name := fields["parallel_tool_calls"]) is not None
        ):
            body[name] = settings.parallel_tool_calls
        self._options(body, settings)
        if stream:
            body["stream"] = True
            if (name := fields["stream_options"]) is not None:
                body[name] = {"include_usage": True}
        if settings.extra_body:
            body.update(settings.extra_body)
        encoded = pydantic_core.to_json(body)
        if tools:
            # splice the cached tools JSON in before the closing brace
            return b"".join((encoded[:-1], b',"tools":', self._tools_json(tools), b"}"))
        return encoded
