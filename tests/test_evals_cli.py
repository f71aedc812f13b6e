"""``agentkit eval``: start a dataset from cassettes, evaluate an agent, exit on regressions."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agentkit.cli import main
from agentkit.evals import Dataset, Report
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

pytestmark = pytest.mark.usefixtures("no_keys")

CASSETTES = Path(__file__).parent / "cassettes" / "test_cassettes_recorded"
RECORDED = [
    reply_tool_calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})),
    reply_text("Paris is sunny at 24 C; Oslo has snow at -3 C."),
]
WORSE = [reply_tool_calls(("get_weather", {"city": "Paris"})), reply_text("No idea, sorry.")]

APP = """
from agentkit import Agent, tool

CALLS = []


@tool
def get_weather(city: str) -> str:
    '''The current weather in a city.'''
    CALLS.append(city)
    raise RuntimeError("a replayed evaluation must never call the real tool")


agent = Agent(None, instructions="Answer briefly.", tools=[get_weather])
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An app file with the agent the weather cassette was recorded with."""
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(APP))
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """The weather cassette's dataset, made by the CLI."""
    path = tmp_path / "dataset.yaml"
    cassette = CASSETTES / "test_agent_with_a_tool.yaml"
    assert main(["eval", "--from-cassettes", str(cassette), "-o", str(path)]) == 0
    return path


def _eval(dataset: Path, app: Path, server: LocalModelServer, *more: str) -> int:
    return main(
        [
            "--plain",
            "eval",
            str(dataset),
            f"{app}:agent",
            *("--model", "mistral-small-2506", "--base-url", server.base_url),
            *more,
        ]
    )


def test_from_cassettes_writes_a_dataset_and_its_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--from-cassettes DIR -o FILE`` writes a case per recorded turn, with a schema beside."""
    out = tmp_path / "set.yaml"
    assert main(["--plain", "eval", "--from-cassettes", str(CASSETTES), "-o", str(out)]) == 0
    count = len(Dataset.from_cassettes(CASSETTES).cases)
    assert len(Dataset.load(out).cases) == count >= 3
    assert json.loads((tmp_path / "set.schema.json").read_text())["title"] == "Dataset"
    assert f"Wrote {count} cases" in capsys.readouterr().out


def test_no_regression_exits_0_and_a_worse_model_exits_1(
    dataset: Path, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded answers pass (exit 0, report written); a worse model against that
    baseline exits 1 and names the case and the evaluator that regressed."""
    baseline = tmp_path / "baseline.json"
    with LocalModelServer(RECORDED, style="mistral") as server:
        assert _eval(dataset, app, server, "--report", str(baseline)) == 0
    assert Report.load(baseline).passed
    capsys.readouterr()
    markdown = tmp_path / "report.md"
    with LocalModelServer(WORSE, style="mistral") as server:
        code = _eval(dataset, app, server, "--baseline", str(baseline), "--markdown", str(markdown))
    assert code == 1
    out = capsys.readouterr().out
    assert "test_agent_with_a_tool: matches_expected pass -> fail" in out
    assert "| test_agent_with_a_tool | FAIL |" in markdown.read_text()


def test_the_same_answers_against_their_baseline_exit_0(
    dataset: Path, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Evaluating again with the same answers reports no regression."""
    baseline = tmp_path / "baseline.json"
    with LocalModelServer(RECORDED, style="mistral") as server:
        assert _eval(dataset, app, server, "--report", str(baseline)) == 0
    with LocalModelServer(RECORDED, style="mistral") as server:
        assert _eval(dataset, app, server, "--baseline", str(baseline)) == 0
    assert "No change." in capsys.readouterr().out


def test_usage_errors_exit_2(
    dataset: Path, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing agent, an unreadable dataset or baseline, no key for the model (the agent
    has none of its own, or ``--model``'s), and a bad option are usage errors (exit 2) with
    a message, before any case runs."""
    assert main(["--plain", "eval", str(dataset)]) == 2
    assert "usage: agentkit eval DATASET FILE.py:AGENT" in capsys.readouterr().out
    assert main(["--plain", "eval", str(tmp_path / "none.yaml"), f"{app}:agent"]) == 2
    assert "cannot read dataset" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["--plain", "eval", str(dataset), f"{app}:agent", "--baseline", str(bad)]) == 2
    assert "not an agentkit evaluation report" in capsys.readouterr().out
    assert main(["--plain", "eval", str(dataset), f"{app}:agent"]) == 2
    assert capsys.readouterr().out.startswith(
        "[error] No API key for mistral-small-2506: set MISTRAL_API_KEY or OPPER_API_KEY "
        "(export MISTRAL_API_KEY=...). To try it offline on the small embedded model, add "
        "--model local (it suits the demo, but most agents need a more capable model)."
    )
    args = ["--plain", "eval", str(dataset), f"{app}:agent", "--model", "gpt-4o-mini"]
    assert main(args) == 2  # before any case runs, not once per case
    assert capsys.readouterr().out.startswith("[error] No API key for gpt-4o-mini: set OPENAI")
    assert main(["--plain", "eval", "--from-cassettes", str(CASSETTES)]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(dataset), f"{app}:agent", "--concurrency", "many"])
    assert exit_info.value.code == 2
