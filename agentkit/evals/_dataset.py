"""Datasets of cases: YAML or JSON files, built from recordings, run on an agent."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentkit._errors import ConfigurationError
from agentkit.evals._case import Case, ToolMode, _Evaluators, functions_wrapped
from agentkit.evals._run import evaluate_dataset
from agentkit.evals._sources import (
    cases_from_cassettes,
    cases_from_conversation,
    cases_from_dumps,
)
from agentkit.messages import Message

if TYPE_CHECKING:
    from agentkit.agent import Agent
    from agentkit.evals._report import Report
    from agentkit.sessions import Session
    from agentkit.usage import UsageLimits

__all__ = ["Dataset"]


class Dataset(BaseModel):
    """Cases and the evaluators every case gets. ``Dataset.load(path)`` /
    ``dataset.save(path)`` read and write YAML (``.yaml``/``.yml``) or JSON; the
    ``from_*`` constructors build one from what you recorded, a case per user turn."""

    model_config = ConfigDict(extra="forbid")

    name: str = "dataset"
    cases: list[Case] = Field(default_factory=list)
    evaluators: _Evaluators = Field(default_factory=list)
    """Evaluators applied to every case (after the case's own)."""

    @model_validator(mode="after")
    def _unique_names(self) -> Dataset:
        seen: set[str] = set()
        for case in self.cases:
            if case.name in seen:
                raise ValueError(f"two cases are named {case.name!r}: case names must be unique")
            seen.add(case.name)
        return self

    # ----------------------------------------------------------------- files

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON schema of a dataset file (for editors: YAML's ``$schema`` comment)."""
        schema = cls.model_json_schema()
        schema["properties"]["$schema"] = {"type": "string", "description": "this schema's path"}
        return schema

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Dataset:
        """A dataset from a YAML (``.yaml``/``.yml``) or JSON file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read dataset {path}: {exc.strerror}") from None
        errors: tuple[type[Exception], ...] = (ValueError,)
        if _is_yaml(path):
            errors = (ValueError, _yaml().YAMLError)
        try:
            data = _yaml().safe_load(text) if _is_yaml(path) else json.loads(text)
        except errors as exc:
            raise ConfigurationError(f"dataset {path} is not valid {_kind(path)}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"dataset {path} holds a {type(data).__name__}; a dataset is a mapping with "
                "'cases' (and optionally 'name' and 'evaluators')"
            )
        data.pop("$schema", None)  # for editors only
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigurationError(f"dataset {path} is not a valid dataset:\n{exc}") from None

    def save(self, path: str | os.PathLike[str], *, schema: bool = False) -> Path:
        """Write the dataset as YAML or JSON (by suffix); with ``schema``, also write its JSON
        schema beside it (``NAME.schema.json``) and point the file at it. Returns the path."""
        path = Path(path)
        data = self.model_dump(mode="json", exclude_none=True)
        if schema:
            schema_path = path.with_name(f"{path.stem}.schema.json")
            schema_path.write_text(json.dumps(self.json_schema(), indent=2) + "\n")
        if _is_yaml(path):
            text = _yaml().safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
            if schema:
                text = f"# yaml-language-server: $schema={schema_path.name}\n{text}"
        else:
            if schema:
                data = {"$schema": schema_path.name, **data}
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        return path

    # ----------------------------------------------------------------- building

    @classmethod
    def from_messages(
        cls, conversations: Iterable[Sequence[Message]], *, name: str = "dataset"
    ) -> Dataset:
        """A case per answered user turn of each conversation (a run's ``result.messages``)."""
        cases = []
        for n, messages in enumerate(conversations, start=1):
            cases += cases_from_conversation(list(messages), f"{name}-{n}", source="messages")
        return cls(name=name, cases=cases)

    @classmethod
    def from_cassettes(
        cls,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        name: str | None = None,
    ) -> Dataset:
        """A case per answered user turn of each conversation recorded in the cassettes
        (files, or directories searched for ``*.yaml``/``*.yml``), with the recorded answer as
        the expected output and the recorded tool results pinned."""
        return cls(name=name or "cassettes", cases=cases_from_cassettes(paths))

    @classmethod
    def from_dumps(
        cls,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        name: str | None = None,
    ) -> Dataset:
        """A case per answered user turn of each run saved with ``dump_messages`` (JSON files,
        or directories searched for ``*.json``)."""
        return cls(name=name or "dumps", cases=cases_from_dumps(paths))

    @classmethod
    async def from_sessions(cls, sessions: Iterable[Session], *, name: str = "sessions") -> Dataset:
        """A case per answered user turn of each session's stored conversation."""
        cases = []
        for n, session in enumerate(sessions, start=1):
            history = await session.load()
            label = str(getattr(session, "session_id", n))
            cases += cases_from_conversation(history.messages, label, source=f"session {label}")
        return cls(name=name, cases=cases)

    # ----------------------------------------------------------------- running

    async def evaluate(
        self,
        agent: Agent[Any, Any],
        *,
        model: Any = None,
        concurrency: int = 4,
        tools: ToolMode = "recorded",
        usage_limits: UsageLimits | None = None,
        judge_model: Any = None,
        evaluators: Sequence[Any] = (),
        deps: Any = None,
        case_timeout: float | None = None,
        progress: bool | None = None,
        name: str | None = None,
    ) -> Report:
        """Run every case on ``agent`` (``model`` overrides its model) and evaluate it.

        At most ``concurrency`` cases run at once; a case that fails (its run, or an
        evaluator) fails alone and the rest go on. ``tools="recorded"`` (the default)
        answers tool calls from each case's recording and never calls a tool function;
        ``"live"`` runs them. ``usage_limits`` (else the agent's) bound each case's run,
        ``case_timeout`` its seconds. ``evaluators`` (evaluator objects or plain functions) apply
        to every case. ``progress`` shows a progress bar (default: on a terminal).
        """
        return await evaluate_dataset(
            self,
            agent,
            model=model,
            concurrency=concurrency,
            tools=tools,
            usage_limits=usage_limits,
            judge_model=judge_model,
            evaluators=functions_wrapped(list(evaluators)),
            deps=deps,
            case_timeout=case_timeout,
            progress=progress,
            name=name,
        )


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def _kind(path: Path) -> str:
    return "YAML" if _is_yaml(path) else "JSON"


def _yaml() -> Any:
    try:
        return importlib.import_module("yaml")
    except ImportError:  # pragma: no cover - vcrpy (the test extra) and the evals extra bring it
        raise ConfigurationError(
            "YAML datasets need PyYAML: pip install -e '.[evals]' in the agentkit clone "
            "(or pip install pyyaml), or use a .json file"
        ) from None
