"""A process that reads its stdin and never answers: an MCP server stuck before ``initialize``."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    while sys.stdin.buffer.read(1):
        pass
