"""The run plan: everything static about one agent and model, built once.

The loop reads the plan (tools, output, instructions, limits) and never the ``Agent``,
so the run package depends on nothing above it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentkit._errors import ConfigurationError
from agentkit.messages import SystemMessage, TextPart, UserMessage
from agentkit.models.base import Model, ModelSettings
from agentkit.output import OUTPUT_TOOL_NAME, OutputMode, OutputSchema, OutputSpec
from agentkit.tools import Tool, ToolDefinition, Toolset
from agentkit.usage import UsageLimits

__all__ = ["AgentConfig", "RunPlan", "build_plan"]

_Validator = tuple[Callable[..., Any], bool]
"""An output validator and whether it takes the ``RunContext``."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """What an agent was built with, as the loop needs it."""

    name: str
    instructions: str | None
    tools: Mapping[str, Tool[Any]]
    output: OutputSchema[Any]
    validators: list[_Validator]
    """Shared with the agent: validators registered later apply to later runs."""
    retries: int
    max_turns: int
    settings: ModelSettings
    raise_tool_errors: bool
    toolsets: tuple[Toolset, ...] = ()
    """Tools known at run time (MCP servers...): their tools join ``tools`` per run."""
    usage_limits: UsageLimits | None = None
    """Budgets for every run (a run's ``usage_limits=`` replaces them)."""


_ToolsetTools = tuple[
    tuple[Sequence[Tool[Any]], ...], Mapping[str, Tool[Any]], tuple[ToolDefinition, ...]
]
"""The toolsets' lists, and the tool map and definitions built from them."""


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What is static for one (agent, model) pair: built once, reused by every run."""

    config: AgentConfig
    model: Model
    mode: OutputMode | None
    tools: tuple[ToolDefinition, ...]
    output_spec: OutputSpec | None
    tool_choice: str | None
    system: SystemMessage | None
    plain_hooks: list[Any] = field(default_factory=list)
    """The hook set of a run that adds no hooks and has no budget (one entry, built by the
    first such run): the agent's hooks and the default context window."""
    run_hooks: list[Any] = field(default_factory=list)
    """``(hooks, hook set)`` of the last run that added hooks of its own and has no budget
    (one entry): a run that adds the very same hook objects reuses its hook set."""
    toolset_tools: list[_ToolsetTools] = field(default_factory=list)
    """The tools last built from the toolsets' lists (one entry), shared by the runs that
    see the same lists: the same objects each time, so what is cached by identity
    downstream (encoded tools, length bounds) is reused from run to run."""

    @property
    def answer_now(self) -> str:
        """The tool choice after a stopped loop: the final-result tool, or no tools at all."""
        return OUTPUT_TOOL_NAME if self.mode == "tool" else "none"

    def check_media(self, user: UserMessage) -> None:
        """Refuse, before any request, a prompt with an image, a document or audio the model
        cannot take, or more inline bytes than its profile allows in one request."""
        if isinstance(user.content, str) or all(isinstance(p, TextPart) for p in user.content):
            return
        from agentkit.models.dialect import convert_messages

        convert_messages((user,), self.model.profile)


def build_plan(config: AgentConfig, model: Model) -> RunPlan:
    """The plan for running ``config`` on ``model``: tools, output mode, instructions."""
    profile = model.profile
    tools = [t.definition for t in config.tools.values()]
    mode: OutputMode | None = None
    spec: OutputSpec | None = None
    tool_choice = None
    instructions = config.instructions
    output = config.output
    if not output.is_text:
        mode = output.resolve_mode(
            profile.output_mode,
            json_schema=profile.supports_json_schema,
            tools=profile.supports_tools,
        )
        mode_plan = output.plan(mode)
        spec = mode_plan.spec
        if mode_plan.tool is not None:
            tools.append(mode_plan.tool)
            tool_choice = "required"
        if mode_plan.instructions is not None:
            instructions = "\n\n".join(filter(None, [instructions, mode_plan.instructions]))
    if (tools or config.toolsets) and not profile.supports_tools:
        raise ConfigurationError(
            f"Model {model.name!r} (profile {profile.name!r}) does not support tools, "
            "but this agent has tools. Use a model that supports function calling."
        )
    return RunPlan(
        config=config,
        model=model,
        mode=mode,
        tools=tuple(tools),
        output_spec=spec,
        tool_choice=tool_choice,
        system=SystemMessage(content=instructions) if instructions else None,
    )
