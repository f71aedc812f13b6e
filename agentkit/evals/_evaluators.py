"""Evaluators: what a case checks about a run, each giving a pass/fail, a score, or both.

An evaluator is a small pydantic model (so a dataset file can name it: ``{type: contains,
value: Paris}``) with an ``evaluate(ctx)`` method, or a plain function
``(ctx) -> bool | float | EvaluationReason`` (sync or async). ``ctx`` is an
``EvaluatorContext``: the case, the run's output, its messages, usage, latency and error.

A ``bool`` is a check (it passes or fails the case); a ``float`` is a score in [0, 1]
(reported and compared against a baseline; it fails the case only under a
``threshold``). ``EvaluationReason`` adds a reason to either.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_serializer,
)

from agentkit._errors import ConfigurationError
from agentkit.messages import AssistantMessage, Message, ToolCall
from agentkit.usage import Usage

if TYPE_CHECKING:
    from agentkit.evals._case import Case

__all__ = [
    "Contains",
    "Equals",
    "EvaluationReason",
    "EvaluatorContext",
    "EvaluatorFunction",
    "EvaluatorResult",
    "Function",
    "IsInstance",
    "MatchesExpected",
    "NoError",
    "ToolCalled",
    "WithinLimits",
    "as_jsonable",
    "import_ref",
]


@dataclass(slots=True)
class EvaluationReason:
    """An evaluator's answer with its reason: ``value`` is a pass (bool) or a score (float)."""

    value: bool | float
    reason: str | None = None


@dataclass(slots=True)
class EvaluatorContext:
    """What an evaluator sees of one case's run."""

    case: Case
    output: Any
    """The run's output (``None`` when the run failed)."""
    messages: list[Message] = field(default_factory=list)
    """The whole conversation of the run (the case's history included)."""
    new_message_index: int = 0
    """Where the run's own messages start in ``messages``."""
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    error: str | None = None
    """``"ErrorType: message"`` when the run raised, else ``None``."""
    not_recorded: list[str] = field(default_factory=list)
    """Tool calls the recording did not have (answered with a "not recorded" error)."""
    judge_model: Any = None
    """The default model of LLM judges (``Dataset.evaluate(judge_model=...)``)."""
    judge_usage: Usage = field(default_factory=Usage)
    """What the case's judges used (added by each judge)."""

    @property
    def expected_output(self) -> Any:
        """The case's expected output (the recorded answer for a case built from a recording)."""
        return self.case.expected_output

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Every tool call the model made in this run, in order."""
        return [
            call
            for message in self.messages[self.new_message_index :]
            if isinstance(message, AssistantMessage)
            for call in message.tool_calls
        ]


EvaluatorFunction = Callable[
    [EvaluatorContext],
    "bool | float | EvaluationReason | Awaitable[bool | float | EvaluationReason]",
]
"""A plain function evaluator: ``(ctx) -> bool | float | EvaluationReason`` (or awaitable)."""


@dataclass(slots=True)
class EvaluatorResult:
    """One evaluator's verdict on one case, as stored in a report."""

    evaluator: str
    """Its name in the report (unique within the case)."""
    passed: bool | None = None
    """The check's result; ``None`` for a score that sets no threshold."""
    score: float | None = None
    reason: str | None = None
    error: str | None = None
    """Set when the evaluator itself failed (the case then fails)."""

    @property
    def ok(self) -> bool:
        """Whether this result lets the case pass."""
        return self.error is None and self.passed is not False


@functools.cache
def _any_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(Any)


_SCALARS = (str, int, float, bool)  # a tuple: isinstance on a union is ~3x slower


def as_jsonable(value: Any) -> Any:
    """``value`` as JSON data (pydantic models dumped, dataclasses as dicts, others as text)."""
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        return _any_adapter().dump_python(value, mode="json")
    except Exception:  # an object pydantic cannot dump: keep its text
        return repr(value)


def import_ref(ref: str) -> Any:
    """The object ``module:attr`` names (``attr`` may be dotted)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(
            f"{ref!r} is not a reference to a Python object: write it as 'module:name' "
            "(for example 'myproject.evals:is_polite')"
        )
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"cannot import {module_name!r} for {ref!r}: {exc}. Run from the directory that "
            "holds it, or put it on PYTHONPATH."
        ) from None
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigurationError(f"{module_name!r} has no attribute {attr!r} ({ref})") from None
    return value


class _Evaluator(BaseModel):
    """Base of the built-in evaluators."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str | None = None
    """Its name in reports (default: the type and its main argument)."""

    def label(self) -> str:
        """The name the report gives this evaluator."""
        return self.name or self._default_label()

    def _default_label(self) -> str:
        return str(getattr(self, "type", type(self).__name__))  # each has a literal type

    def pass_at(self) -> float | None:
        """The score at which a float result passes (``None``: a score alone never fails)."""
        return None

    async def evaluate(self, ctx: EvaluatorContext) -> bool | float | EvaluationReason:
        """Judge one run."""
        raise NotImplementedError


def _normal_text(value: Any) -> str:
    return " ".join(str(value).split()).casefold()


def _similarity(expected: Any, actual: Any) -> float:
    """How close ``actual`` is to ``expected``, in [0, 1]: text by difflib's ratio (case and
    spaces ignored), a dict by the mean over the expected keys, anything else by equality."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or not expected:
            return 1.0 if expected == actual else 0.0
        scores = [_similarity(v, actual[k]) if k in actual else 0.0 for k, v in expected.items()]
        return sum(scores) / len(scores)
    if isinstance(expected, str) and isinstance(actual, str):
        a, b = _normal_text(expected), _normal_text(actual)
        if a == b:
            return 1.0
        return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    return 1.0 if expected == actual else 0.0


class MatchesExpected(_Evaluator):
    """The output is close to the expected one (the recorded answer, for a case built from a
    recording): a similarity score in [0, 1] that passes at ``min_similarity``.

    Text is compared ignoring case and runs of spaces; a structured output as a dict, field by
    field, over the fields the expected output has (extra fields in the output are fine)."""

    type: Literal["matches_expected"] = "matches_expected"
    min_similarity: float = Field(default=0.6, ge=0.0, le=1.0)

    async def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        """Score the output against the expected one."""
        expected = ctx.case.expected_output
        if expected is None:
            raise ConfigurationError(
                f"case {ctx.case.name!r} has no expected_output for matches_expected to "
                "compare with: give it one, or remove the evaluator"
            )
        output = ctx.output
        actual = output if isinstance(output, str) else as_jsonable(output)
        if actual == expected:
            return EvaluationReason(1.0)
        if isinstance(expected, str) and not isinstance(actual, str):
            try:  # a structured output recorded as JSON text (native or prompted output)
                expected = json.loads(expected)
            except ValueError:
                pass
        score = round(_similarity(expected, actual), 4)
        if score >= self.min_similarity:
            return EvaluationReason(score)
        return EvaluationReason(score, f"similarity {score:.2f}: got {str(actual)[:200]!r}")

    def pass_at(self) -> float:
        """``min_similarity``."""
        return self.min_similarity


class Equals(_Evaluator):
    """The output equals ``value`` (or the case's expected output when ``value`` is unset)."""

    type: Literal["equals"] = "equals"
    value: Any = None

    def _default_label(self) -> str:
        return "equals" if self.value is None else f"equals({self.value!r})"

    async def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        """Compare as JSON data."""
        wanted = ctx.case.expected_output if self.value is None else self.value
        actual = as_jsonable(ctx.output)
        if actual == wanted:
            return EvaluationReason(True)
        return EvaluationReason(False, f"expected {wanted!r}, got {actual!r}")


class Contains(_Evaluator):
    """The output's text (or the JSON of a structured output) contains ``value``."""

    type: Literal["contains"] = "contains"
    value: str
    case_sensitive: bool = False

    def _default_label(self) -> str:
        return f"contains({self.value!r})"

    async def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        """Look for the text."""
        output = ctx.output
        text = output if isinstance(output, str) else json.dumps(as_jsonable(output))
        needle = self.value
        if not self.case_sensitive:
            text, needle = text.casefold(), needle.casefold()
        if needle in text:
            return EvaluationReason(True)
        return EvaluationReason(False, f"{self.value!r} not in {text[:200]!r}")


_BUILTIN_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "dict": dict,
    "list": list,
}


class IsInstance(_Evaluator):
    """The output validates against a type: a Python type in code, or ``"module:Name"`` in a
    dataset file (builtins by name: ``str``, ``int``, ``float``, ``bool``, ``dict``, ``list``)."""

    type: Literal["is_instance"] = "is_instance"
    of: Any

    @field_serializer("of")
    def _of_name(self, of: Any) -> str:
        if isinstance(of, str):
            return of
        if of in _BUILTIN_TYPES.values():
            return str(of.__name__)
        return f"{getattr(of, '__module__', '?')}:{getattr(of, '__qualname__', repr(of))}"

    def _target(self) -> Any:
        if isinstance(self.of, str):
            return _BUILTIN_TYPES.get(self.of) or import_ref(self.of)
        return self.of

    def _default_label(self) -> str:
        of = self.of if isinstance(self.of, str) else getattr(self.of, "__name__", repr(self.of))
        return f"is_instance({of})"

    async def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        """Validate the output (as JSON data) against the type, strictly for builtins."""
        target = self._target()
        if isinstance(target, type) and isinstance(ctx.output, target):
            return EvaluationReason(True)
        try:
            TypeAdapter(target).validate_python(as_jsonable(ctx.output))
        except ValidationError as exc:
            return EvaluationReason(False, f"does not validate: {exc.errors()[0]['msg']}")
        return EvaluationReason(True)


def _subset(wanted: Any, got: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(got, dict) and all(
            k in got and _subset(v, got[k]) for k, v in wanted.items()
        )
    return bool(wanted == got)


def _parsed(arguments: str) -> Any:
    try:
        return json.loads(arguments, strict=False)  # model-written
    except ValueError:
        return arguments


class ToolCalled(_Evaluator):
    """The model called tool ``tool`` (with arguments including ``args``, when given), or with
    ``called: false`` never did; ``times`` pins how many matching calls there were."""

    type: Literal["tool_called"] = "tool_called"
    tool: str
    args: dict[str, Any] | None = None
    called: bool = True
    times: int | None = None

    def _default_label(self) -> str:
        shown = "" if self.args is None else f", {json.dumps(self.args, separators=(',', ':'))}"
        return (
            f"tool_called({self.tool}{shown})" if self.called else f"not tool_called({self.tool})"
        )

    async def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        """Count the matching calls."""
        calls = ctx.tool_calls
        matching = [
            c
            for c in calls
            if c.name == self.tool
            and (self.args is None or _subset(self.args, _parsed(c.arguments)))
        ]
        made = ", ".join(f"{c.name}({c.arguments})" for c in calls) or "none"
        if not self.called:
            ok = not matching
        elif self.times is not None:
            ok = len(matching) == self.times
        else:
            ok = bool(matching)
        return EvaluationReason(ok, None if ok else f"{len(matching)} matching; calls made: {made}")


class WithinLimits(_Evaluator):
    """The run stayed within these budgets (each optional): requests, tool calls, tokens, cost
    in USD, and seconds of wall time."""

    type: Literal["within_limits"] = "within_limits"
    requests: int | None = None
    tool_calls: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    seconds: float | None = None

    async def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        """Check every budget set."""
        used = {
            "requests": ctx.usage.requests,
            "tool_calls": ctx.usage.tool_calls,
            "input_tokens": ctx.usage.input_tokens,
            "output_tokens": ctx.usage.output_tokens,
            "total_tokens": ctx.usage.total_tokens,
            "cost_usd": ctx.usage.cost_usd,
            "seconds": ctx.latency_s,
        }
        over = []
        for name, value in used.items():
            limit = getattr(self, name)
            if limit is None:
                continue
            if value is None:
                over.append(f"{name} unknown (limit {limit})")
            elif value > limit:
                over.append(f"{name} {value:g} > {limit:g}")
        return EvaluationReason(not over, "; ".join(over) or None)


class NoError(_Evaluator):
    """The run ended with an output, not an error (every case checks this implicitly too)."""

    type: Literal["no_error"] = "no_error"

    async def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        """Pass when the run did not raise."""
        return EvaluationReason(ctx.error is None, ctx.error)


class Function(_Evaluator):
    """A plain function ``(ctx) -> bool | float | EvaluationReason`` as an evaluator.

    In a dataset file it is ``{type: function, ref: "module:name"}``; in code,
    ``Function.of(fn)``. A float result passes at ``threshold`` when one is set.
    """

    type: Literal["function"] = "function"
    ref: str
    threshold: float | None = None
    _fn: Callable[..., Any] | None = PrivateAttr(default=None)

    @classmethod
    def of(
        cls, fn: Callable[..., Any], *, name: str | None = None, threshold: float | None = None
    ) -> Function:
        """Wrap a function (its ``module:qualname`` becomes the reference saved in files)."""
        ref = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
        made = cls(ref=ref, name=name or getattr(fn, "__name__", None), threshold=threshold)
        made._fn = fn
        return made

    def _default_label(self) -> str:
        return self.ref.rpartition(":")[2]

    def pass_at(self) -> float | None:
        """``threshold``."""
        return self.threshold

    async def evaluate(self, ctx: EvaluatorContext) -> bool | float | EvaluationReason:
        """Call the function (awaiting it when it is async)."""
        fn = self._fn or import_ref(self.ref)
        if not callable(fn):
            raise ConfigurationError(f"{self.ref} is a {type(fn).__name__}, not a function")
        value = fn(ctx)
        if inspect.isawaitable(value):
            value = await value
        if isinstance(value, EvaluationReason | bool | float | int):
            return value
        raise TypeError(
            f"evaluator {self.ref} returned a {type(value).__name__}; it must return a bool "
            "(pass/fail), a float score in [0, 1], or an EvaluationReason"
        )
