"""MCP results as agentkit's: a tool's content as the tool message (text, images), failures
as error results naming the server."""

from __future__ import annotations

import json

import mcp_types

from agentkit._errors import MCPToolError
from agentkit.hooks import ToolResult
from agentkit.messages import ImagePart
from agentkit.tools import tool_result_content

__all__: list[str] = []


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _error(text: str, cause: Exception | None = None) -> ToolResult:
    return ToolResult(text, is_error=True, error=cause or MCPToolError(text))


def _result(label: str, name: str, result: mcp_types.CallToolResult) -> ToolResult:
    """An MCP result as the tool message: texts, or the structured content as JSON, and images."""
    texts: list[str] = []
    images: list[ImagePart] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            texts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent):
            images.append(ImagePart(url=f"data:{block.mime_type};base64,{block.data}"))
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            text = getattr(resource, "text", None)
            texts.append(text if text is not None else f"[resource {resource.uri}]")
        elif isinstance(block, mcp_types.ResourceLink):
            texts.append(f"[resource {block.uri}]")
        else:
            texts.append(f"[{block.type} content omitted]")
    if not texts and result.structured_content is not None:
        texts.append(json.dumps(result.structured_content, ensure_ascii=False))
    if images:
        content, parts = tool_result_content([*texts, *images])
    else:
        content, parts = "\n".join(texts), ()
    if result.is_error:
        text = content or f"MCP server {label}: {name} failed without a message."
        return ToolResult(text, parts, is_error=True, error=MCPToolError(text))
    return ToolResult(content, parts)
