"""A bare 2025-11-25 MCP server over stdio (JSON-RPC by hand, no SDK), for the tests of
``execution.taskSupport``: ``report`` takes calls only as tasks (``required``), ``lookup``
either way (``optional``). A call that asks for a task is refused, so a plain call is the
only way to get an answer."""

from __future__ import annotations

import json
import sys
from typing import Any

TOOLS = [
    {
        "name": "lookup",
        "description": "Look a word up.",
        "inputSchema": {"type": "object", "properties": {"word": {"type": "string"}}},
        "execution": {"taskSupport": "optional"},
    },
    {
        "name": "report",
        "description": "Write a long report (as a task only).",
        "inputSchema": {"type": "object", "properties": {}},
        "execution": {"taskSupport": "required"},
    },
]


def answer(request: dict[str, Any]) -> dict[str, Any]:
    method, params = request["method"], request.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}, "tasks": {"requests": {"tools": {"call": {}}}}},
            "serverInfo": {"name": "task-tools", "version": "1"},
        }
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call" and "task" not in params:
        word = params.get("arguments", {}).get("word", "")
        return {"content": [{"type": "text", "text": f"{word}: found"}], "isError": False}
    raise LookupError(f"{method} is not served here (or not as a task)")


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if "id" not in request:
            continue  # a notification
        try:
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": answer(request)}
        except LookupError as exc:
            error = {"code": -32601, "message": str(exc)}
            reply = {"jsonrpc": "2.0", "id": request["id"], "error": error}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
