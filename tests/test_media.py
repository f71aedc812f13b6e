"""Documents and audio in: parts, the exact wire per provider, refusals, size limits, tools."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mcp_types
import pytest
from mcp.server.mcpserver import MCPServer as SDKServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support import model_on

from agentkit import (
    Agent,
    AudioPart,
    ConfigurationError,
    DocumentPart,
    TextPart,
    ToolMessage,
    UnsupportedContentError,
    UserMessage,
    dump_messages,
    load_messages,
    tool,
)
from agentkit.limits import DOCUMENT_TOKENS, IMAGE_TOKENS, worst_case
from agentkit.mcp import MCPServer
from agentkit.messages import AssistantMessage, ContentPart, Message, ToolCall
from agentkit.models.base import ModelRequest, complete
from agentkit.models.dialect import BRIDGE_TEXT, convert_messages
from agentkit.models.profiles import (
    GENERIC_PROFILE,
    MISTRAL_SMALL_PROFILE,
    MISTRAL_VOXTRAL_PROFILE,
    OPENAI_PROFILE,
    profile_for,
)
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel, tool_calls
from agentkit.testing.cassettes import load_cassette_data, use_cassette
from agentkit.testing.replay import _from_wire, check_mistral_conversation
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls
from agentkit.tokens import count_tokens
from agentkit.tracing import Tracing

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PDF_URL = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24
WAV_B64 = base64.b64encode(WAV).decode()


@pytest.fixture
def server() -> Iterator[LocalModelServer]:
    """A local server answering every request with the same short text."""
    with LocalModelServer(lambda request: reply_text("ok")) as srv:
        yield srv


async def sent(server: LocalModelServer, model_name: str, messages: list[Message]) -> Any:
    """Send one request through the real SDK; the JSON body the server got."""
    async with model_on(server, model_name) as model:
        await complete(model, ModelRequest(messages=messages))
    return server.requests[-1].body


# --------------------------------------------------------------------------- the parts


def test_parts_from_bytes_path_url_and_file_id(tmp_path: Path) -> None:
    """Bytes become data URLs (PDF and WAV recognised), paths are named, ids and URLs kept."""
    doc = DocumentPart.from_bytes(PDF)
    assert (doc.url, doc.media_type, doc.size, doc.name) == (
        PDF_URL,
        "application/pdf",
        len(PDF),
        None,
    )
    path = tmp_path / "invoice.pdf"
    path.write_bytes(PDF)
    assert DocumentPart.from_path(path) == DocumentPart(url=PDF_URL, name="invoice.pdf")
    assert DocumentPart.from_file_id("file-abc").size == 0
    assert DocumentPart.from_url("https://example.com/a.pdf").media_type is None
    audio = AudioPart.from_bytes(WAV)
    assert (audio.data, audio.format, audio.size) == (WAV_B64, "wav", len(WAV))
    assert AudioPart.from_bytes(b"ID3\x04rest").format == "mp3"


def test_parts_refuse_what_they_cannot_tell() -> None:
    """Unknown bytes ask for the type; a document needs exactly one of url and file_id."""
    with pytest.raises(ValueError, match="pass media_type="):
        DocumentPart.from_bytes(b"hello")
    with pytest.raises(ValueError, match="pass format="):
        AudioPart.from_bytes(b"hello")
    with pytest.raises(ValueError, match=r"exactly one of url= .* and file_id="):
        DocumentPart(url="https://example.com/a.pdf", file_id="file-abc")


def test_documents_and_audio_round_trip_through_json() -> None:
    """User parts and a tool's attachments dump and load equal; no attachments, no key."""
    messages: list[Message] = [
        UserMessage(
            content=(
                TextPart(text="Compare."),
                DocumentPart.from_bytes(PDF, name="a.pdf"),
                DocumentPart.from_url("https://example.com/b.pdf"),
                DocumentPart.from_file_id("file-abc", name="c.pdf"),
                AudioPart.from_bytes(WAV),
            )
        ),
        AssistantMessage(tool_calls=(ToolCall(id="c1", name="fetch", arguments="{}"),)),
        ToolMessage(
            tool_call_id="c1",
            name="fetch",
            content="x",
            attachments=(DocumentPart.from_bytes(PDF), AudioPart.from_bytes(WAV)),
        ),
    ]
    data = dump_messages(messages)
    assert load_messages(data) == messages
    plain = ToolMessage(tool_call_id="c1", name="fetch", content="x")
    assert b"attachments" not in dump_messages([plain])


# --------------------------------------------------------------------------- the wire


@pytest.mark.anyio
async def test_openai_gets_file_parts_and_input_audio(server: LocalModelServer) -> None:
    """OpenAI: a PDF as a file part (data URL and filename, or file id), audio as data+format."""
    content = (
        TextPart(text="Read these."),
        DocumentPart.from_bytes(PDF, name="invoice.pdf"),
        DocumentPart.from_bytes(PDF),
        DocumentPart.from_file_id("file-abc123"),
        AudioPart.from_bytes(WAV),
    )
    body = await sent(server, "gpt-4o-audio-preview", [UserMessage(content=content)])
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Read these."},
                {"type": "file", "file": {"filename": "invoice.pdf", "file_data": PDF_URL}},
                {"type": "file", "file": {"filename": "document.pdf", "file_data": PDF_URL}},
                {"type": "file", "file": {"file_id": "file-abc123"}},
                {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
            ],
        }
    ]


@pytest.mark.anyio
async def test_mistral_gets_document_url_file_and_input_audio_chunks(
    server: LocalModelServer,
) -> None:
    """Mistral: document_url (URL or data URL, with document_name), file ids, audio as text."""
    content = (
        TextPart(text="Read these."),
        DocumentPart.from_url("https://example.com/a.pdf", name="a.pdf"),
        DocumentPart.from_bytes(PDF),
        DocumentPart.from_file_id("6a2b4c1e-0000-4000-8000-000000000000"),
        AudioPart.from_bytes(WAV),
    )
    voxtral_with_documents = MISTRAL_VOXTRAL_PROFILE.with_changes(supports_documents=True)
    async with model_on(server, "voxtral-small-latest", profile=voxtral_with_documents) as model:
        await complete(model, ModelRequest(messages=[UserMessage(content=content)]))
    assert server.requests[-1].body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Read these."},
                {
                    "type": "document_url",
                    "document_url": "https://example.com/a.pdf",
                    "document_name": "a.pdf",
                },
                {"type": "document_url", "document_url": PDF_URL},
                {"type": "file", "file_id": "6a2b4c1e-0000-4000-8000-000000000000"},
                {"type": "input_audio", "input_audio": WAV_B64},
            ],
        }
    ]


@pytest.mark.anyio
async def test_openai_refuses_a_document_url_before_sending(server: LocalModelServer) -> None:
    """OpenAI's chat completions fetch no document URLs: a clear error, nothing sent."""
    message = UserMessage(content=(DocumentPart.from_url("https://example.com/a.pdf"),))
    with pytest.raises(ConfigurationError, match=r"is a URL.*DocumentPart.from_bytes"):
        await sent(server, "gpt-4o", [message])
    assert server.requests == []


def test_profiles_say_who_takes_documents_and_audio() -> None:
    """Mistral Small and GPT-4o take documents, Voxtral and gpt-*-audio take audio."""
    assert profile_for("mistral-small-2506").supports_documents
    assert profile_for("mistral/mistral-small-2506").media_style == "mistral"
    assert profile_for("gpt-4o").supports_documents
    assert not profile_for("gpt-4o").supports_audio
    assert profile_for("gpt-4o-audio-preview").supports_audio
    assert profile_for("voxtral-mini-2507").supports_audio
    assert not profile_for("some-local-model").supports_documents


# --------------------------------------------------------------------------- refusals


@pytest.mark.anyio
async def test_prompt_with_a_document_for_a_model_without_documents_fails_first(
    server: LocalModelServer,
) -> None:
    """A document in the prompt of a model that takes none fails before any request."""
    agent = Agent(model_on(server, "some-local-model"))
    prompt: list[ContentPart] = [TextPart(text="Summarise."), DocumentPart.from_bytes(PDF)]
    with pytest.raises(ConfigurationError, match=r"does not take documents.*supports_documents"):
        await agent.run(prompt)
    assert server.requests == []


@pytest.mark.anyio
async def test_prompt_with_audio_for_a_model_without_audio_fails_first(
    server: LocalModelServer,
) -> None:
    """Audio in the prompt of Mistral Small (no audio) fails before any request, naming Voxtral."""
    agent = Agent(model_on(server, "mistral-small-2506"))
    with pytest.raises(UnsupportedContentError, match=r"does not take audio.*voxtral"):
        await agent.run([TextPart(text="Transcribe."), AudioPart.from_bytes(WAV)])
    assert server.requests == []


def test_a_tools_audio_for_a_model_without_audio_names_the_tool() -> None:
    """Audio a tool returned, sent to a profile without audio, is an error naming the tool."""
    messages: list[Message] = [
        UserMessage(content="Record it."),
        AssistantMessage(tool_calls=(ToolCall(id="c1", name="record", arguments="{}"),)),
        ToolMessage(
            tool_call_id="c1", name="record", content="x", attachments=(AudioPart.from_bytes(WAV),)
        ),
    ]
    with pytest.raises(ConfigurationError, match=r"returned by tool 'record'.*take audio"):
        convert_messages(messages, OPENAI_PROFILE)
    with pytest.raises(ConfigurationError, match=r"returned by tool 'record'.*take audio"):
        convert_messages(messages, GENERIC_PROFILE)


# --------------------------------------------------------------------------- size limits


@pytest.mark.anyio
async def test_documents_over_the_profiles_limit_fail_before_sending(
    server: LocalModelServer,
) -> None:
    """Inline documents over max_document_bytes (all of them together) fail, nothing sent."""
    profile = MISTRAL_SMALL_PROFILE.with_changes(max_document_bytes=2 * len(PDF) - 1)
    agent = Agent(model_on(server, "mistral-small-2506", profile=profile))
    prompt = [DocumentPart.from_bytes(PDF), DocumentPart.from_bytes(PDF)]
    with pytest.raises(ConfigurationError) as info:
        await agent.run(prompt)
    assert f"{2 * len(PDF):,} bytes of documents" in str(info.value)
    assert "from_file_id" in str(info.value)
    assert server.requests == []
    # At the limit it is sent; a file id or URL carries no inline bytes.
    exact = profile.with_changes(max_document_bytes=2 * len(PDF))
    async with model_on(server, "mistral-small-2506", profile=exact) as model:
        await complete(model, ModelRequest(messages=[UserMessage(content=tuple(prompt))]))
    assert len(server.requests) == 1


def test_audio_over_the_profiles_limit_is_refused() -> None:
    """Audio over max_audio_bytes is refused by the dialect, saying how much and the limit."""
    profile = MISTRAL_VOXTRAL_PROFILE.with_changes(max_audio_bytes=len(WAV) - 1)
    message = UserMessage(content=(AudioPart.from_bytes(WAV),))
    with pytest.raises(ConfigurationError, match=rf"{len(WAV)} bytes of audio.*{len(WAV) - 1}"):
        convert_messages([message], profile)


def test_documented_limits_are_on_the_profiles() -> None:
    """OpenAI takes 32 MB of files a request, Mistral 50 MB of documents."""
    assert OPENAI_PROFILE.max_document_bytes == 32_000_000
    assert MISTRAL_SMALL_PROFILE.max_document_bytes == 50_000_000


# --------------------------------------------------------------------------- tools


@tool
def fetch_invoice(number: int) -> list[object]:
    """Fetch an invoice as a PDF."""
    return [f"Invoice {number}", DocumentPart.from_bytes(PDF, name=f"invoice-{number}.pdf")]


@pytest.mark.anyio
async def test_a_tool_returning_a_pdf_reaches_mistral_after_the_tool_run() -> None:
    """A tool's PDF is kept on its tool message and sent as a document_url chunk after it."""
    replies = [reply_tool_calls(("fetch_invoice", {"number": 7})), reply_text("Total: 12 EUR.")]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(model_on(server, "mistral-small-2506"), tools=[fetch_invoice])
        result = await agent.run("What is the total of invoice 7?")
    assert result.output == "Total: 12 EUR."
    answer = result.messages[2]
    assert isinstance(answer, ToolMessage)
    assert answer.content == "Invoice 7\n[The tool returned a document; see the next message.]"
    assert answer.attachments == (DocumentPart(url=PDF_URL, name="invoice-7.pdf"),)
    wire = server.requests[1].body["messages"]
    call_id = wire[1]["tool_calls"][0]["id"]
    label = f"Files returned by tool 'fetch_invoice' (call {call_id}):"
    assert wire[2:] == [
        {"role": "tool", "tool_call_id": call_id, "content": answer.content},
        {"role": "assistant", "content": BRIDGE_TEXT},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": label},
                {"type": "document_url", "document_url": PDF_URL, "document_name": "invoice-7.pdf"},
            ],
        },
    ]
    assert load_messages(dump_messages(result.messages)) == result.messages


@tool
def record_memo() -> AudioPart:
    """Record the latest voice memo."""
    return AudioPart.from_bytes(WAV)


@pytest.mark.anyio
async def test_a_tool_returning_audio_reaches_openai_as_input_audio() -> None:
    """A tool's audio clip goes to OpenAI as an input_audio part in the user message after it."""
    replies = [reply_tool_calls(("record_memo", {})), reply_text("It says hello.")]
    with LocalModelServer(replies) as server:
        agent = Agent(model_on(server, "gpt-4o-audio-preview"), tools=[record_memo])
        result = await agent.run("What does my memo say?")
    assert result.output == "It says hello."
    wire = server.requests[1].body["messages"]
    assert wire[2]["content"] == "[The tool returned an audio clip; see the next message.]"
    assert wire[3]["content"][1] == {
        "type": "input_audio",
        "input_audio": {"data": WAV_B64, "format": "wav"},
    }


# --------------------------------------------------------------------------- sessions, cassettes


@pytest.mark.anyio
async def test_documents_survive_a_session_and_are_sent_again(tmp_path: Path) -> None:
    """A PDF prompt stored in a SQLite session is loaded back equal and resent next turn."""
    session = SQLiteSession(tmp_path / "chats.db", "ada")
    prompt: list[ContentPart] = [
        TextPart(text="Keep this."),
        DocumentPart.from_bytes(PDF, name="a.pdf"),
    ]
    with LocalModelServer([reply_text("Kept."), reply_text("Yes.")]) as server:
        agent = Agent(model_on(server, "mistral-small-2506"))
        await agent.run(prompt, session=session)
        await agent.run("Still there?", session=session)
    history = (await session.load()).messages
    assert history[0] == UserMessage(content=tuple(prompt))
    resent = server.requests[1].body["messages"][0]["content"][1]
    assert resent == {"type": "document_url", "document_url": PDF_URL, "document_name": "a.pdf"}


@pytest.mark.anyio
async def test_documents_and_audio_record_and_replay_in_a_cassette(tmp_path: Path) -> None:
    """A request with a PDF and audio records to a readable cassette and replays offline."""
    path = tmp_path / "media.yaml"
    content = (TextPart(text="Both?"), DocumentPart.from_bytes(PDF), AudioPart.from_bytes(WAV))
    profile = MISTRAL_VOXTRAL_PROFILE.with_changes(supports_documents=True)
    request = ModelRequest(messages=[UserMessage(content=content)])
    with LocalModelServer([reply_text("Both.")], style="mistral") as server:
        async with model_on(server, "voxtral-small-latest", profile=profile) as model:
            with use_cassette(path, record_mode="once"):
                recorded = await complete(model, request)
    stored = load_cassette_data(path)["interactions"][0]["request"]["body"]["json"]
    assert stored["messages"][0]["content"][2] == {"type": "input_audio", "input_audio": WAV_B64}
    with LocalModelServer([]) as dead:
        async with model_on(dead, "voxtral-small-latest", profile=profile) as model:
            with use_cassette(path):
                replayed = await complete(model, request)
        assert dead.requests == []
    assert replayed.message == recorded.message


# --------------------------------------------------------------------------- mistral-common


def test_audio_conversation_passes_mistral_commons_validator() -> None:
    """A Voxtral conversation with audio in the prompt and from a tool passes mistral-common."""
    messages: list[Message] = [
        UserMessage(content=(TextPart(text="Transcribe."), AudioPart.from_bytes(WAV))),
        AssistantMessage(
            tool_calls=(ToolCall(id="abcDEF123", name="record_memo", arguments="{}"),)
        ),
        ToolMessage(
            tool_call_id="abcDEF123",
            name="record_memo",
            content="[The tool returned an audio clip; see the next message.]",
            attachments=(AudioPart.from_bytes(WAV),),
        ),
        AssistantMessage(content="Hello."),
    ]
    check_mistral_conversation(messages, model="voxtral-mini-2507")


def test_document_conversation_passes_the_rules_mistral_common_knows() -> None:
    """Document chunks, which mistral-common cannot parse, are checked for message order."""
    messages: list[Message] = [
        UserMessage(content=(TextPart(text="Total?"), DocumentPart.from_bytes(PDF))),
        AssistantMessage(tool_calls=(ToolCall(id="abcDEF123", name="fetch", arguments="{}"),)),
        ToolMessage(
            tool_call_id="abcDEF123",
            name="fetch",
            content="see next",
            attachments=(DocumentPart.from_file_id("file-1"),),
        ),
        AssistantMessage(content="12 EUR."),
    ]
    check_mistral_conversation(messages)


def test_mistral_common_does_not_know_document_chunks() -> None:
    """mistral-common 1.x rejects the document_url and file chunks Mistral's API takes.

    When this fails, mistral-common learned them: validate them as they are.
    """
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    for chunk in (
        {"type": "document_url", "document_url": PDF_URL},
        {"type": "file", "file_id": "file-1"},
    ):
        wire: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "text", "text": "x"}, chunk]}
        ]
        with pytest.raises(ValueError, match="is not a valid ChunkTypes"):
            ChatCompletionRequest.from_openai(wire)


# --------------------------------------------------------------------------- MCP


@pytest.mark.anyio
async def test_an_mcp_tools_audio_and_embedded_pdf_become_attachments() -> None:
    """An MCP tool's audio content and embedded PDF resource reach the tool message."""
    sdk = SDKServer("recorder")

    @sdk.tool()
    def memo() -> list[mcp_types.ContentBlock]:
        """The latest memo and its transcript."""
        return [
            mcp_types.TextContent(type="text", text="Memo 3."),
            mcp_types.AudioContent(type="audio", data=WAV_B64, mime_type="audio/wav"),
            mcp_types.EmbeddedResource(
                type="resource",
                resource=mcp_types.BlobResourceContents(
                    uri="file:///memos/3.pdf",
                    mime_type="application/pdf",
                    blob=base64.b64encode(PDF).decode(),
                ),
            ),
        ]

    model = ScriptedModel([tool_calls(("memo", {})), "Done."])
    agent = Agent(model, tools=[MCPServer.in_process(sdk)])
    result = await agent.run("Play my memo.")
    answer = result.messages[2]
    assert isinstance(answer, ToolMessage)
    assert answer.content == (
        "Memo 3.\n[The tool returned a document and an audio clip; see the next message.]"
    )
    assert answer.attachments == (
        AudioPart(data=WAV_B64, format="wav"),
        DocumentPart(url=PDF_URL, name="3.pdf"),
    )


@pytest.mark.anyio
async def test_an_exposed_tools_pdf_and_audio_cross_mcp_and_come_back_equal() -> None:
    """``to_mcp(expose_tools=True)`` sends a tool's PDF and audio as MCP content, and an
    agentkit client of that server gets the same parts back on its tool message."""

    @tool
    def memo_with_scan() -> list[object]:
        """The latest memo and its scan."""
        return ["Memo 3.", AudioPart.from_bytes(WAV), DocumentPart.from_bytes(PDF, name="3.pdf")]

    exposing = Agent(ScriptedModel([]), name="office", tools=[memo_with_scan])
    model = ScriptedModel([tool_calls(("memo_with_scan", {})), "Done."])
    agent = Agent(model, tools=[MCPServer.in_process(exposing.to_mcp(expose_tools=True))])
    result = await agent.run("Play my memo.")
    answer = result.messages[2]
    assert isinstance(answer, ToolMessage)
    assert answer.attachments == (
        AudioPart.from_bytes(WAV),
        DocumentPart(url=PDF_URL, name="3.pdf"),
    )


@pytest.mark.anyio
async def test_a_tools_document_over_the_limit_is_left_out_and_the_model_told() -> None:
    """A PDF larger than the model takes in a request is not sent: the tool's answer says
    so, and the run goes on (sending it would fail every later request)."""
    profile = MISTRAL_SMALL_PROFILE.with_changes(max_document_bytes=len(PDF) - 1)
    replies = [reply_tool_calls(("fetch_invoice", {"number": 7})), reply_text("Too big.")]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(model_on(server, profile=profile), tools=[fetch_invoice])
        result = await agent.run("What is the total of invoice 7?")
    assert result.output == "Too big."
    answer = result.messages[2]
    assert isinstance(answer, ToolMessage)
    assert answer.attachments == ()
    assert answer.content.endswith(
        f"[A document of {len(PDF):,} bytes was left out: the model takes at most "
        f"{len(PDF) - 1:,} bytes of them in a request.]"
    )
    assert [m["role"] for m in server.requests[1].body["messages"]] == [
        "user",
        "assistant",
        "tool",
    ]


# --------------------------------------------------------------------------- tracing


@pytest.mark.anyio
async def test_traced_content_shows_documents_and_audio_as_genai_parts() -> None:
    """With content capture on, a prompt's PDF, file id and audio are GenAI blob, file and
    blob parts (modality document / audio) in the chat span's input messages."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider, capture_content=True)
    prompt: list[ContentPart] = [
        TextPart(text="Both?"),
        DocumentPart.from_bytes(PDF),
        DocumentPart.from_file_id("file-1"),
        AudioPart.from_bytes(WAV),
    ]
    profile = MISTRAL_VOXTRAL_PROFILE.with_changes(supports_documents=True)
    with LocalModelServer([reply_text("Yes.")], style="mistral") as server:
        agent = Agent(model_on(server, "voxtral-small-latest", profile=profile), hooks=[tracing])
        await agent.run(prompt)
    provider.shutdown()
    (chat,) = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    (message,) = json.loads(str((chat.attributes or {})["gen_ai.input.messages"]))
    assert message["parts"] == [
        {"type": "text", "content": "Both?"},
        {
            "type": "blob",
            "modality": "document",
            "mime_type": "application/pdf",
            "content": base64.b64encode(PDF).decode(),
        },
        {"type": "file", "modality": "document", "file_id": "file-1"},
        {"type": "blob", "modality": "audio", "mime_type": "audio/wav", "content": WAV_B64},
    ]


# --------------------------------------------------------------------------- counting


def test_budgets_and_token_counts_see_documents_and_audio() -> None:
    """A document counts its bytes and a page image (DOCUMENT_TOKENS more by reference),
    audio its bytes, in both the budget's worst case and count_tokens."""
    everything = MISTRAL_VOXTRAL_PROFILE.with_changes(supports_documents=True, context_window=None)
    model = ScriptedModel([], profile=everything)
    inline = UserMessage(content=(DocumentPart.from_bytes(PDF), AudioPart.from_bytes(WAV)))
    by_id = UserMessage(content=(DocumentPart.from_file_id("file-1"),))
    text_only = UserMessage(content=(TextPart(text="x"),))
    base = worst_case(model, ModelRequest(messages=[text_only])).input_tokens
    assert worst_case(model, ModelRequest(messages=[by_id])).input_tokens >= (
        base + IMAGE_TOKENS + DOCUMENT_TOKENS
    )
    assert worst_case(model, ModelRequest(messages=[inline])).input_tokens >= (
        base + IMAGE_TOKENS + len(PDF) + len(WAV)
    )
    counted = count_tokens([inline], model="some-local-model")
    assert counted >= count_tokens([text_only], model="some-local-model") + len(PDF) + len(WAV)


def test_recorded_wire_parts_of_either_dialect_read_back_the_same() -> None:
    """Wire parts of either dialect (OpenAI file / input_audio, Mistral document_url) read
    back as the same parts, so recorded requests can be checked against Mistral's rules."""
    openai_wire = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Both?"},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": PDF_URL}},
                {"type": "file", "file": {"file_id": "file-1"}},
                {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
            ],
        }
    ]
    everything = MISTRAL_VOXTRAL_PROFILE.with_changes(supports_documents=True)
    mistral_wire = convert_messages(_from_wire(openai_wire), everything)
    assert _from_wire(mistral_wire)[0] == UserMessage(
        content=(
            TextPart(text="Both?"),
            DocumentPart(url=PDF_URL, name="a.pdf"),
            DocumentPart(file_id="file-1"),
            AudioPart(data=WAV_B64, format="wav"),
        )
    )


def test_chat_history_names_documents_and_audio() -> None:
    """``agentkit chat``'s /history shows a prompt's text with each part's kind in brackets."""
    from agentkit.cli._chat import _one_line

    prompt = UserMessage(
        content=(TextPart(text="Both?"), DocumentPart.from_bytes(PDF), AudioPart.from_bytes(WAV))
    )
    assert _one_line(prompt) == "Both? [document] [audio]"
    assert _one_line(AssistantMessage(content=None)) == ""


def test_audio_in_a_format_the_server_refuses_fails_before_sending() -> None:
    """OpenAI takes wav and mp3 only: a FLAC clip is refused, naming the formats it takes."""
    flac = UserMessage(content=(AudioPart.from_bytes(b"fLaC" + b"\x00" * 8),))
    with pytest.raises(UnsupportedContentError, match=r"'flac' audio.*takes only mp3, wav"):
        convert_messages([flac], profile_for("gpt-4o-audio-preview"))
    assert convert_messages([flac], MISTRAL_VOXTRAL_PROFILE)[0]["content"][0]["type"] == (
        "input_audio"
    )
