"""What many test modules share: the tools their agents call, and a model on a local server.

tests/ is not a package: pytest puts this directory on ``sys.path`` for the test modules
(its default "prepend" import mode) and mypy, given tests/, sees this file as the module
``support``; so a test module imports it as ``from support import get_weather, model_on``.

* ``get_weather``: the usual weather tool, ``get_weather("Paris") == "Paris: 21 C, sunny"``;
  ``weather_tool`` makes one that answers other text or notes the cities it is asked about.
* ``get_weather_async`` (a coroutine tool, called ``get_weather`` on the wire) and ``add``
  (a sync tool: it runs in a worker thread), for runs that must go through both kinds.
* ``model_on``: an ``OpenAIChatModel`` sending to a ``LocalModelServer``.
* ``validate_request``: assert a request body passes mistral-common's validator.
* ``tool_agent``: an agent with both kinds of tool, small budgets and fast retries.
* ``wait_closed``: wait until a server has seen every client connection close.
* ``tool_history``: a long past conversation of tool-using turns (for context windows), and
  ``lookup``, the tool its calls name.
* ``mistral_count``: a request body's prompt tokens by mistral-common (after its validator).
* ``TextSink``: a file-like object that keeps what is written (a CLI's stdout in-process).
* ``line_reader``: an ``input`` stand-in answering a CLI's prompts from a list of lines.
* ``marked_processes``: the live processes started with ``MCP_TEST_MARK=mark`` (a server
  process that must be gone).
* ``node_bin``: the path of a command from ``tests/node`` (real JavaScript peers that
  ``.ci/run`` installs with ``npm ci``); skips when they are not installed (a failure
  under ``CI=true``). ``node_script``: the command running a script of ``tests/node``.

A test that needs a tool of its own (another signature, a side effect this module does not
offer) keeps it next to the test.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio.lowlevel

from agentkit import (
    Agent,
    AssistantMessage,
    Message,
    Tool,
    ToolCall,
    ToolMessage,
    UserMessage,
    tool,
)
from agentkit.models import OpenAIChatModel, RetryPolicy

if TYPE_CHECKING:
    import httpx2
    import pytest

    from agentkit.models import ModelProfile
    from agentkit.testing.server import LocalModelServer, RecordedRequest, Reply

MODEL = "mistral-small-2506"
"""The model name ``model_on`` uses unless told otherwise (its profile has the strictest
dialect: Mistral's)."""

FAST_RETRY = RetryPolicy(max_retries=1, initial_delay=0.0, max_delay=0.0, max_total_wait=1.0)
"""One retry, at once: a fault is retried without slowing the test down."""


def weather_tool(
    report: str | Mapping[str, str] = "{city}: 21 C, sunny", *, calls: list[str] | None = None
) -> Tool[Callable[[str], str]]:
    """A sync ``get_weather(city)`` tool answering ``report``: a format string over ``city``,
    or a mapping from city to answer (``"Unknown"`` for any other city). Each city it is
    asked about is appended to ``calls``, when given."""

    def get_weather(city: str) -> str:
        """Get the current weather for a city.

        Args:
            city: City name.
        """
        if calls is not None:
            calls.append(city)
        if isinstance(report, str):
            return report.format(city=city)
        return report.get(city, "Unknown")

    return tool(get_weather)


get_weather = weather_tool()
"""The usual weather tool: ``get_weather("Paris")`` answers ``"Paris: 21 C, sunny"``."""


@tool(name="get_weather")
async def get_weather_async(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: City name.
    """
    await anyio.lowlevel.checkpoint()
    return f"{city}: 21 C, sunny"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers (a sync tool: it runs in a worker thread)."""
    return a + b


def model_on(
    server: LocalModelServer,
    name: str = MODEL,
    *,
    profile: ModelProfile | None = None,
    api_key: str = "test-key",
    retry: RetryPolicy | None = None,
    http_client: httpx2.AsyncClient | None = None,
) -> OpenAIChatModel:
    """An ``OpenAIChatModel`` named ``name`` sending to ``server``; its profile is the one
    its name implies unless ``profile`` is given, and its retries the default unless
    ``retry`` is."""
    return OpenAIChatModel(
        name,
        base_url=server.base_url,
        api_key=api_key,
        profile=profile,
        retry=retry,
        http_client=http_client,
    )


@functools.cache
def _tekken() -> Any:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.v3(is_tekken=True)


def mistral_count(body: Mapping[str, Any]) -> int:
    """A request body's prompt tokens by mistral-common's Tekken tokenizer, after its
    request validator (v3, serving mode) passed it."""
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.validator import ValidationMode, get_validator
    from mistral_common.tokens.tokenizers.base import TokenizerVersion

    request = ChatCompletionRequest.from_openai(
        body["messages"], body.get("tools"), model="mistral-small-2506"
    )
    get_validator(TokenizerVersion.v3, ValidationMode.serving).validate_request(request)
    return len(_tekken().encode_chat_completion(request).tokens)


def validate_request(body: Mapping[str, Any], model: str = MODEL) -> None:
    """Assert that one chat request body passes mistral-common's validator (serving mode)."""
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.validator import ValidationMode, get_validator
    from mistral_common.tokens.tokenizers.base import TokenizerVersion

    validator = get_validator(TokenizerVersion.v11, ValidationMode.serving)
    request = ChatCompletionRequest.from_openai(body["messages"], body.get("tools"), model=model)
    validator.validate_request(request)


def tool_agent(server: LocalModelServer, output_type: Any = str) -> Agent[None, Any]:
    """An agent on ``server`` with a tool of each kind (``get_weather_async`` on the event
    loop, ``add`` in a worker thread), two retries, six turns and ``FAST_RETRY``."""
    return Agent(
        model_on(server, retry=FAST_RETRY),
        instructions="You are a weather assistant.",
        tools=[get_weather_async, add],
        output_type=output_type,
        retries=2,
        max_turns=6,
    )


def wait_closed(server: LocalModelServer, within: float = 10.0) -> None:
    """Wait until the server has seen every client connection close (the pool closed)."""
    deadline = time.monotonic() + within
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server.open_connections == 0, f"{server.open_connections} connection(s) left open"


@tool
def lookup(query: str) -> str:
    """Look something up.

    Args:
        query: What to look up.
    """
    return f"Results for {query}: " + "lorem ipsum dolor sit amet, " * 6


def tool_history(turns: int) -> list[Message]:
    """``turns`` past turns, each: a question, a tool call, its result, an answer."""
    messages: list[Message] = []
    for i in range(turns):
        call = ToolCall(id=f"c{i:08d}", name="lookup", arguments=json.dumps({"query": f"q{i}"}))
        messages += [
            UserMessage(content=f"Question {i}: what do you know about topic {i}?"),
            AssistantMessage(content="", tool_calls=(call,)),
            ToolMessage(
                tool_call_id=call.id,
                name="lookup",
                content=f"Results for q{i}: " + "lorem ipsum dolor sit amet, " * 6,
            ),
            AssistantMessage(content=f"Topic {i} is about lorem ipsum, mostly."),
        ]
    return messages


class TextSink:
    """A file-like object that keeps what is written to it (``text``)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, s: str) -> int:
        """Keep ``s``."""
        self.parts.append(s)
        return len(s)

    def flush(self) -> None:
        """Nothing to flush."""

    @property
    def text(self) -> str:
        """Everything written so far."""
        return "".join(self.parts)


NODE_DIR = Path(__file__).parent / "node"


def line_reader(lines: list[str], asked: list[str]) -> Callable[[str], str]:
    """An ``input`` stand-in for the CLI: answers each prompt with the next of ``lines``
    (``EOFError``, as Ctrl-D, once they are used up), noting each prompt in ``asked``."""
    feed = iter(lines)

    def read(prompt: str) -> str:
        asked.append(prompt)
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    return read


def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment carries ``MCP_TEST_MARK=mark`` (start a server with
    that variable to tell later whether its process is gone)."""
    import os

    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if f"MCP_TEST_MARK={mark}".encode() in environ.split(b"\0") and "zombie" not in status:
            pids.append(int(entry))
    return pids


def node_script(script: str, *packages: str) -> list[str]:
    """The command running ``tests/node/<script>`` with node, or skip the test when node or
    one of the npm ``packages`` it imports is not installed (``npm ci --prefix tests/node``)."""
    import pytest

    missing = [p for p in packages if not (NODE_DIR / "node_modules" / p).exists()]
    if shutil.which("node") is None or missing:
        pytest.skip(f"node or {missing} not installed: run `npm ci --prefix tests/node`")
    return ["node", str(NODE_DIR / script)]


def node_bin(name: str) -> str:
    """The path of ``name`` in ``tests/node/node_modules/.bin``, or skip the test.

    Install with ``npm ci --prefix tests/node`` (``.ci/run`` does); node must be on PATH.
    """
    import pytest

    path = NODE_DIR / "node_modules" / ".bin" / name
    if shutil.which("node") is None or not path.exists():
        pytest.skip(f"{name} is not installed: run `npm ci --prefix tests/node`")
    return str(path)


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str, folder: str | None = None) -> ModuleType:
    """``examples/NAME.py``, or ``examples/NAME/NAME.py``, or ``examples/FOLDER/NAME.py``
    imported as the module ``NAME`` (once per test session)."""
    if name in sys.modules:
        return sys.modules[name]
    path = EXAMPLES / (folder or "") / f"{name}.py"
    if not path.exists():
        path = EXAMPLES / name / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def readme_commands(example: str, program: str) -> list[list[str]]:
    """The commands of ``examples/EXAMPLE/README.md``'s shell blocks that run ``program``
    (``agentkit``, ``curl``, ``python``), each as its arguments after the program: lines
    continued with a backslash are joined and comments dropped, as a shell would."""
    import re
    import shlex

    text = (EXAMPLES / example / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == program:
                commands.append(words[1:])
    return commands


@tool(name="refund", needs_approval=True)
def refund_order(order_id: str) -> str:
    """Refund an order (needs approval).

    Args:
        order_id: The order to refund.
    """
    return f"refunded {order_id}"


def help_desk(request: RecordedRequest) -> Reply:
    """A model that looks the weather up (thinking first), asks to ``refund`` the order a
    "Refund X" prompt names, says how a tool answered, refuses (HTTP 400) a prompt saying
    "Fail", and greets anything else (thinking first)."""
    from agentkit.testing.server import reply_error, reply_text, reply_tool_calls

    last = request.body["messages"][-1]
    content = last["content"] if isinstance(last["content"], str) else json.dumps(last["content"])
    if last["role"] == "tool":
        return reply_text(f"Done: {last['content']}")
    if "Fail" in content:
        return reply_error(400, "The model refused this request.", style="mistral")
    if "Refund" in content:
        return reply_tool_calls(("refund", {"order_id": content.split()[-1].strip('"')}))
    if "weather" in content:
        return reply_tool_calls(("get_weather", {"city": "Paris"}), thinking="Look it up.")
    return reply_text("Hello!", thinking="A greeting.")


@contextmanager
def served_desk(sessions: Path) -> Iterator[tuple[str, LocalModelServer]]:
    """``agentkit serve``'s app for an agent on ``help_desk`` (with ``get_weather`` and
    ``refund_order``), conversations in the SQLite file ``sessions``: its URL and the
    model server."""
    from agentkit.serve import BackgroundServer
    from agentkit.testing.server import LocalModelServer

    with LocalModelServer(help_desk, style="mistral") as upstream:
        agent = Agent(model_on(upstream), tools=[get_weather, refund_order], name="desk")
        with BackgroundServer(agent, sessions=sessions) as server:
            yield server.url, upstream


def run_json_command(
    command: list[str], script: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> tuple[dict[str, Any], LocalModelServer]:
    """Run an example README's ``agentkit run ... --json`` command from the repository root
    with its model on a ``LocalModelServer`` playing ``script`` (as ``mistral-small-2506``);
    the JSON result it printed (the exit status must be 0) and the server."""
    from agentkit.cli import main
    from agentkit.testing.server import LocalModelServer

    with LocalModelServer(script) as server:
        monkeypatch.chdir(EXAMPLES.parent)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        model = ["--base-url", server.base_url, "--model", MODEL]
        status = main(["--plain", *command, *model])
    out = capsys.readouterr().out
    assert status == 0, out
    return json.loads(out), server


class LocalLlamaStandIn:
    """Stands in for ``agentkit.local.LocalLlamaServer`` (patch it with ``lambda: stand_in``):
    the same ``with`` and ``model()``, the model a llama.cpp-profile ``gemma-3-270m`` on a
    ``LocalModelServer`` (``.server``) answering ``replies``."""

    def __init__(self, *replies: Reply) -> None:
        from agentkit.testing.server import LocalModelServer

        self.server = LocalModelServer(list(replies), style="openai")

    def __enter__(self) -> LocalLlamaStandIn:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(None, None, None)

    def model(self) -> OpenAIChatModel:
        """A model for the stand-in server, as ``LocalLlamaServer.model()`` gives one."""
        from agentkit.models.profiles import LLAMA_CPP_PROFILE

        return OpenAIChatModel(
            "gemma-3-270m",
            base_url=self.server.base_url,
            api_key="local",
            profile=LLAMA_CPP_PROFILE,
        )
