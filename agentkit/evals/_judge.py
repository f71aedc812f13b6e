"""An LLM judge: any agentkit model grades a run's output against a rubric.

The judge is an agent of its own with a structured answer (``JudgeVerdict``: a score in
[0, 1] and a reason), so its answer is validated like any output; a judge that answers
something else gets one retry, then the evaluator fails with a clear error for that case
(the other cases go on).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer

from agentkit._errors import AgentkitError, ConfigurationError
from agentkit.evals._evaluators import EvaluationReason, EvaluatorContext, _Evaluator, as_jsonable

__all__ = ["JUDGE_INSTRUCTIONS", "Judge", "JudgeError", "JudgeVerdict"]

JUDGE_INSTRUCTIONS = (
    "You grade the answer of an AI assistant against a rubric. Read the rubric, the "
    "question and the answer, then give a score from 0 (fails the rubric) to 1 (meets it "
    "fully) and a one-sentence reason."
)
"""The judge's system instructions."""


class JudgeError(ValueError):
    """The judge model did not give a usable verdict."""


class JudgeVerdict(BaseModel):
    """What the judge answers."""

    score: float = Field(ge=0.0, le=1.0, description="0 fails the rubric, 1 meets it fully")
    reason: str = Field(description="one sentence: why this score")


class Judge(_Evaluator):
    """An LLM judge: ``model`` scores the output against ``rubric``; the case passes at
    ``threshold``. ``model`` is a model string (in a dataset file) or any agentkit ``Model``
    (a key-based one, the embedded local model, a ``ScriptedModel`` in tests); when unset,
    the ``judge_model`` given to ``Dataset.evaluate`` is used."""

    type: Literal["judge"] = "judge"
    rubric: str
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    model: Any = None
    include_input: bool = True
    """Show the judge the question (the case's prompt)."""
    include_expected: bool = False
    """Show the judge the expected output as a reference."""

    @field_serializer("model")
    def _model_name(self, model: Any) -> str | None:
        return model if isinstance(model, str) or model is None else None

    def _default_label(self) -> str:
        rubric = " ".join(self.rubric.split())
        return f"judge({rubric[:40]}{'...' if len(rubric) > 40 else ''})"

    def pass_at(self) -> float:
        """``threshold``."""
        return self.threshold

    def _prompt(self, ctx: EvaluatorContext) -> str:
        parts = [f"Rubric:\n{self.rubric}"]
        if self.include_input:
            parts.append(f"Question:\n{ctx.case.prompt or '(the conversation in history)'}")
        output = ctx.output
        shown = output if isinstance(output, str) else json.dumps(as_jsonable(output))
        parts.append(f"Answer:\n{shown}")
        if self.include_expected and ctx.case.expected_output is not None:
            expected = ctx.case.expected_output
            shown = expected if isinstance(expected, str) else json.dumps(expected)
            parts.append(f"Reference answer:\n{shown}")
        return "\n\n".join(parts)

    async def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        """Ask the judge model; its score and reason are the result."""
        from agentkit.agent import Agent

        model = self.model if self.model is not None else ctx.judge_model
        if model is None:
            raise ConfigurationError(
                "the judge has no model: give it one (Judge(model=...), or 'model:' in the "
                "dataset file) or pass judge_model= to Dataset.evaluate (--judge-model on the CLI)"
            )
        judge: Agent[None, JudgeVerdict] = Agent(
            model, instructions=JUDGE_INSTRUCTIONS, output_type=JudgeVerdict, retries=1
        )
        try:
            result = await judge.run(self._prompt(ctx))
        except AgentkitError as exc:
            raise JudgeError(
                f"the judge model gave no usable verdict (a score from 0 to 1 and a reason): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        ctx.judge_usage.add(result.usage)
        return EvaluationReason(result.output.score, result.output.reason)
