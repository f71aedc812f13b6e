"""agentkit's version, written here only: ``pyproject.toml`` reads it when building, and
``agentkit.__version__``, ``agentkit --version``, tracing and MCP servers report it."""

__all__ = ["__version__"]

__version__ = "0.1.0"
