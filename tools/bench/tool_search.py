"""Input tokens per request with 100 tools, with and without ``ToolSearch``.

    python tools/bench/tool_search.py [--tools 100] [--json]

The same task both ways, played by a scripted model (no network): the user asks for a
calendar event; without tool search the model calls ``create_calendar_event`` at once, with
it the model first searches ("create calendar event"), then calls the tool it found. Each
request the model got is counted with ``agentkit.count_tokens`` for ``mistral-small-2506``:
Mistral's Tekken tokenizer from ``mistral-common`` when it is installed (the vocabulary it
bundles: close to Mistral Small 3.2's, not exact), else one token per UTF-8 byte (the output
says which).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from typing import Any

from agentkit import Agent, Tool, ToolSearch, count_tokens
from agentkit.testing import ScriptedModel, tool_calls

MODEL = "mistral-small-2506"

DOMAINS = [
    ("calendar_event", "a calendar event"),
    ("email", "an email message"),
    ("contact", "a contact in the address book"),
    ("invoice", "an invoice in the billing system"),
    ("customer", "a customer record in the CRM"),
    ("ticket", "a support ticket"),
    ("product", "a product in the catalogue"),
    ("order", "a shop order"),
    ("shipment", "a shipment with its tracking"),
    ("warehouse_item", "an item of warehouse stock"),
    ("file", "a file in cloud storage"),
    ("folder", "a folder in cloud storage"),
    ("repository", "a source code repository"),
    ("pull_request", "a pull request"),
    ("issue", "an issue in the bug tracker"),
    ("deployment", "a deployment of a service"),
    ("alert", "a monitoring alert"),
    ("dashboard", "a metrics dashboard"),
    ("employee", "an employee in the HR system"),
    ("expense", "an expense report"),
]
"""Twenty kinds of record a company's assistant reaches through a few MCP servers."""


def _get(id: str) -> str:
    """Fetch one record.

    Args:
        id: The record's identifier.
    """
    return f"record {id}"


def _list(query: str = "", limit: int = 20, cursor: str | None = None) -> str:
    """List records.

    Args:
        query: Words the records must contain.
        limit: How many records to return at most.
        cursor: Where the previous page ended.
    """
    return f"records matching {query!r}"


def _create(title: str, body: str = "", tags: list[str] | None = None) -> str:
    """Create a record.

    Args:
        title: A short title.
        body: The full text.
        tags: Labels to file it under.
    """
    return f"created {title!r} ({len(tags or [])} tags)"


def _update(id: str, fields: dict[str, str]) -> str:
    """Change fields of a record.

    Args:
        id: The record's identifier.
        fields: The fields to change, with their new values.
    """
    return f"updated {id}: {sorted(fields)}"


def _delete(id: str, confirm: bool = False) -> str:
    """Delete a record.

    Args:
        id: The record's identifier.
        confirm: Must be true to delete.
    """
    return f"deleted {id}" if confirm else f"not deleted {id}: confirm it"


ACTIONS: list[tuple[str, Callable[..., str], str]] = [
    ("get", _get, "Fetch {what} by its identifier."),
    ("list", _list, "List or search {what}s, a page at a time."),
    ("create", _create, "Create {what} with a title, a body and tags."),
    ("update", _update, "Change fields of {what}."),
    ("delete", _delete, "Delete {what}; needs confirm=true."),
]


def many_tools(count: int = 100) -> list[Tool[Any]]:
    """``count`` tools (at most 100): five actions on each of twenty kinds of record."""
    tools: list[Tool[Any]] = [
        Tool(function, name=f"{action}_{domain}", description=text.format(what=what))
        for domain, what in DOMAINS
        for action, function, text in ACTIONS
    ]
    return tools[:count]


def measure(count: int) -> dict[str, Any]:
    """The input tokens of each request of the task, without and with tool search."""
    tools = many_tools(count)
    event = {"title": "Team lunch", "body": "Friday 12:30", "tags": ["team"]}
    prompt = "Put a team lunch on Friday at 12:30 in my calendar."

    plain = ScriptedModel([tool_calls(("create_calendar_event", event)), "Done."])
    Agent(plain, tools=tools).run_sync(prompt)

    search = ToolSearch()
    searching = ScriptedModel(
        [
            tool_calls(("search_tools", {"query": "create calendar event"})),
            tool_calls(("create_calendar_event", event)),
            "Done.",
        ]
    )
    Agent(searching, tools=[*tools, search.tool], hooks=[search]).run_sync(prompt)

    def tokens(model: ScriptedModel) -> list[int]:
        return [count_tokens(r.messages, r.tools, model=MODEL) for r in model.requests]

    def schemas(model: ScriptedModel) -> list[int]:
        return [len(r.tools) for r in model.requests]

    tekken = importlib.util.find_spec("mistral_common") is not None
    return {
        "tools": count,
        "counter": "tekken (mistral-common)" if tekken else "utf-8 bytes",
        "without": {"tokens": tokens(plain), "schemas": schemas(plain)},
        "with": {"tokens": tokens(searching), "schemas": schemas(searching)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.tools)
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"{figures['tools']} tools, input tokens per request ({figures['counter']}):")
    for label in ("without", "with"):
        row = figures[label]
        per = ", ".join(
            f"{t} ({n} schemas)" for t, n in zip(row["tokens"], row["schemas"], strict=True)
        )
        print(f"  {label:>7} tool search: {per}; total {sum(row['tokens'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
