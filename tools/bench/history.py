"""CPU per run with a long history: 8 messages against 2,000 (issue 13's bound).

Each run sends one request with the history and a new prompt, through the context-window
hook (a Mistral profile with a 128K window, token counts by the Tekken tokenizer when
mistral-common is installed), to a scripted model (no HTTP, so only agentkit's own work
is measured). The JSON encoding of the request (what an HTTP model would do anyway) is
measured apart, per run, and subtracted: the bound is

    (cpu(2000) - encode(2000)) <= 1.5 * cpu(8)

Usage: .venv/bin/python tools/bench/history.py [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import time

import anyio

from agentkit import Agent, AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from agentkit.models.base import ModelRequest, ModelSettings
from agentkit.models.dialect import RequestEncoder
from agentkit.models.profiles import MISTRAL_SMALL_PROFILE
from agentkit.testing import ScriptedModel


def history(n: int) -> list[Message]:
    """``n`` messages: turns of a question, a tool call, its result and an answer."""
    out: list[Message] = []
    i = 0
    while len(out) < n:
        call = ToolCall(id=f"c{i:08d}", name="lookup", arguments=json.dumps({"query": f"q{i}"}))
        out += [
            UserMessage(content=f"Question {i}: tell me about topic {i}."),
            AssistantMessage(content="", tool_calls=(call,)),
            ToolMessage(tool_call_id=call.id, name="lookup", content=f"Results for q{i}: ok."),
            AssistantMessage(content=f"Topic {i} is fine."),
        ]
        i += 1
    return out[:n]


def cpu_per_run(n: int, runs: int) -> tuple[float, float]:
    """(CPU seconds per run, CPU seconds of encoding its request as JSON)."""
    past = history(n)
    model = ScriptedModel(["ok"] * (2 * runs), profile=MISTRAL_SMALL_PROFILE)
    agent = Agent(model)

    async def go() -> None:
        for _ in range(runs):
            await agent.run("And now?", message_history=past)

    anyio.run(go)  # warm up: tokenizer, caches, validators
    start = time.process_time()
    anyio.run(go)
    per_run = (time.process_time() - start) / runs
    encoder = RequestEncoder("mistral-small-2506", MISTRAL_SMALL_PROFILE, ModelSettings())
    request = ModelRequest(messages=[*past, UserMessage(content="And now?")])
    start = time.process_time()
    for _ in range(runs):
        encoder.encode(request)
    return per_run, (time.process_time() - start) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    short, short_encode = cpu_per_run(8, args.runs)
    long, long_encode = cpu_per_run(2000, args.runs)
    bound = 1.5 * short + long_encode
    print("| history | CPU per run | JSON encoding of its request | bound |")
    print("|---|---|---|---|")
    print(f"| 8 messages | {short * 1e3:.3f} ms | {short_encode * 1e3:.3f} ms | |")
    print(
        f"| 2,000 messages | {long * 1e3:.3f} ms | {long_encode * 1e3:.3f} ms | "
        f"1.5 x {short * 1e3:.3f} + {long_encode * 1e3:.3f} = {bound * 1e3:.3f} ms: "
        f"{'within' if long <= bound else 'OVER'} |"
    )


if __name__ == "__main__":
    main()
