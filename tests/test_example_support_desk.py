"""examples/support_desk: order lookup, refunds behind approvals, SQLite sessions, served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from support import load_example, readme_commands

import agentkit.serve
from agentkit import Denied, ToolMessage
from agentkit.cli import main
from agentkit.serve import BackgroundServer
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel, text, tool_calls
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

ROOT = Path(__file__).resolve().parent.parent
REFUND = {"order_id": "A1001", "amount_eur": 249.0, "reason": "arrived broken"}

desk = load_example("support_desk")


def test_the_readme_serve_and_curl_commands_pause_then_refund_on_approval(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The README's ``agentkit serve`` command (on a scripted model server) answers its first
    curl with a 409 naming the waiting refund, which has not run; its second curl approves
    it, the refund runs once, and the whole conversation is in the SQLite session file."""
    (serve,) = readme_commands("support_desk", "agentkit")
    chat, approve = readme_commands("support_desk", "curl")
    script = [
        reply_tool_calls(("lookup_order", {"order_id": "A1001"})),
        reply_tool_calls(("refund", REFUND)),
        reply_text("Refunded 249.00 EUR on order A1001."),
    ]
    db = tmp_path / "desk.db"
    seen: dict[str, Any] = {}

    def scenario(agent: Any, **options: Any) -> None:
        with BackgroundServer(agent, model=options["model"], sessions=options["sessions"]) as srv:
            seen["paused"] = _post(srv.url, chat)
            error = seen["paused"].json()["error"]
            seen["requests_before_approval"] = len(model_server.requests)
            body = _body(approve).replace("CONVERSATION", error["conversation"])
            body = body.replace("CALL_ID", error["pending"][0]["id"])
            seen["approved"] = _post(srv.url, approve, body)
            seen["conversation"] = error["conversation"]

    with LocalModelServer(script) as model_server:
        monkeypatch.chdir(ROOT)
        monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setattr(agentkit.serve, "serve", scenario)
        model = ["--model", "openai:mistral-small-2506", "--sessions", str(db)]
        assert main(["--plain", *serve, *model]) == 0

    paused = seen["paused"]
    assert paused.status_code == 409
    error = paused.json()["error"]
    assert error["code"] == "approval_required"
    assert [(p["name"], json.loads(p["arguments"])) for p in error["pending"]] == [
        ("refund", REFUND)
    ]
    assert seen["requests_before_approval"] == 2  # looked up, asked to refund; nothing more
    answer = seen["approved"]
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == (
        "Refunded 249.00 EUR on order A1001."
    )
    stored = anyio.run(SQLiteSession(db, seen["conversation"]).messages)
    results = [(m.name, m.content) for m in stored if isinstance(m, ToolMessage)]
    assert results[1] == ("refund", "Refunded 249.00 EUR on order A1001.")
    assert json.loads(results[0][1])["status"] == "delivered"


def _body(command: list[str]) -> str:
    return command[command.index("-d") + 1]


def _post(url: str, command: list[str], body: str | None = None) -> httpx2.Response:
    path = "/" + command[1].split("/", 3)[3]
    assert command[1].startswith("http://127.0.0.1:8000/")
    content = _body(command) if body is None else body
    headers = {"content-type": "application/json"}
    return httpx2.post(url + path, content=content, headers=headers, timeout=30)


def test_a_denied_refund_never_runs_and_the_model_hears_why() -> None:
    """Denying the waiting refund leaves the shop untouched and answers the call with the
    reason, which the model sees before it answers."""
    shop = desk.sample_shop()
    model = ScriptedModel([tool_calls(("refund", REFUND)), text("I need a photo first.")])
    agent = desk.build_agent(model, shop)
    paused = agent.run_sync("Refund A1001, it arrived broken.")
    (request,) = paused.approvals_needed
    assert request.tool_name == "refund"
    result = agent.run_sync(
        message_history=paused.messages, approvals={request: Denied("ask for a photo first")}
    )
    assert result.output == "I need a photo first."
    assert shop.refunds == [] and shop.orders["A1001"].refunded_eur == 0
    answer = model.requests[1].messages[-1]
    assert isinstance(answer, ToolMessage) and "ask for a photo first" in answer.content


def test_refund_checks_the_order_whatever_the_model_asked() -> None:
    """An approved refund of an order not delivered, or of more than was paid, is an error
    answer to the model, and no money moves."""
    shop = desk.sample_shop()
    too_much = {**REFUND, "amount_eur": 300.0}
    shipped = {**REFUND, "order_id": "A1002", "amount_eur": 10.0}
    model = ScriptedModel(
        [tool_calls(("refund", too_much), ("refund", shipped)), text("I cannot refund that.")]
    )
    agent = desk.build_agent(model, shop)
    paused = agent.run_sync("Refund everything.")
    decisions = {request: True for request in paused.approvals_needed}
    result = agent.run_sync(message_history=paused.messages, approvals=decisions)
    errors = [m.content for m in result.messages if isinstance(m, ToolMessage) and m.is_error]
    assert errors == [
        "order A1001 can be refunded between 0 and 249.00 EUR",
        "order A1002 is shipped: only delivered orders",
    ]
    assert shop.refunds == []


def test_lookup_order_answers_the_order_or_asks_for_the_id() -> None:
    """``lookup_order`` finds an order whatever the case of its id, and for an unknown id
    tells the model to ask the customer for theirs."""
    lookups = tool_calls(
        ("lookup_order", {"order_id": "a1003"}), ("lookup_order", {"order_id": "Z9"})
    )
    model = ScriptedModel([lookups, text("Done.")])
    result = desk.build_agent(model).run_sync("Where are my orders?")
    found, missing = (m.content for m in result.messages if isinstance(m, ToolMessage))
    assert json.loads(found)["item"] == "milk frother"
    assert missing == "No order 'Z9'. Ask the customer for their order id (like A1001)."
