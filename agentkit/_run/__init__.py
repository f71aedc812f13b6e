"""The run core: one run, one owner.

Read it in this order:

- ``plan``: what is static for one (agent, model) pair, built once (``RunPlan``).
- ``state``: the ``Run``, the one object a run is: its ``RunInfo``, plan, hooks,
  settings, budget (``agentkit.limits.Ledger``), the paused turn it resumes, the loop's
  counters and tools; every ``RunContext`` is built by ``Run.context``.
- ``history``: sessions, and the history check every run passes (fresh or resumed).
- ``request``: the one request point (hooks, streaming, partial outputs).
- ``tools``: a turn's tool calls: classified (approvals applied), executed, answered.
- ``loop``: the loop, a ``while`` over four next steps.
- ``start``: the ``Runner``: how a run is set up, held open and stored.
- ``nested``: an agent used as a tool, run through its runner as part of the caller's run.

``agentkit.agent.Agent`` is the public face; nothing here is public API.
"""

from agentkit._run.nested import agent_tool
from agentkit._run.plan import AgentConfig
from agentkit._run.start import Prompt, Runner, user_message
from agentkit._run.state import Run

__all__ = ["AgentConfig", "Prompt", "Run", "Runner", "agent_tool", "user_message"]
