"""The readable cassette format: JSON bodies as YAML data, SSE streams as event lists.

Private to ``agentkit.testing.cassettes``; PyYAML is imported on first use.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ReadableSerializer"]


def _yaml() -> Any:
    return importlib.import_module("yaml")


def _to_text(body: Any) -> str | bytes | None:
    """A body as text when it is UTF-8, as bytes when binary."""
    if body is None:
        return None
    if isinstance(body, bytes | bytearray):
        try:
            return bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(body)
    return str(body)


def _header(headers: Mapping[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            if isinstance(value, list | tuple):
                return str(value[0]) if value else ""
            return str(value)
    return ""


def _parse_sse(text: str) -> list[dict[str, Any]] | None:
    """SSE text as a list of events, or ``None`` when it would not survive a round trip."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n\n"):
        return None
    events: list[dict[str, Any]] = []
    for block in text[:-2].split("\n\n"):
        event: dict[str, Any] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                name, value = "comment", line[1:]
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
            if name in event and name != "data":
                return None
            event[name] = f"{event[name]}\n{value}" if name in event else value
        data = event.get("data")
        if isinstance(data, str) and data[:1] in ("{", "["):
            try:
                event["data"] = json.loads(data)
            except ValueError:
                pass
        events.append(event)
    return events


def _render_sse(events: Sequence[Mapping[str, Any]]) -> str:
    out = []
    for event in events:
        lines = []
        for name, value in event.items():
            if name == "comment":
                lines.append(f":{value}")
                continue
            if isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            lines.extend(f"{name}: {part}" for part in str(value).split("\n"))
        out.append("\n".join(lines) + "\n\n")
    return "".join(out)


def _readable_body(body: Any, content_type: str) -> Any:
    text = _to_text(body)
    if text is None:
        return None
    if isinstance(text, bytes):
        return {"string": text}
    if "text/event-stream" in content_type:
        events = _parse_sse(text)
        if events is not None and _parse_sse(_render_sse(events)) == events:
            return {"sse": events}
    if text[:1] in ("{", "[") or "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict | list):
            return {"json": data}
    return {"string": text}


def _raw_body(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    if "json" in body:
        return json.dumps(body["json"], ensure_ascii=False)
    if "sse" in body:
        return _render_sse(body["sse"])
    return body.get("string")


def _fix_content_length(headers: dict[str, Any], body: Any) -> None:
    for name in list(headers):
        if name.lower() == "content-length" and body is not None:
            size = len(body.encode("utf-8") if isinstance(body, str) else body)
            headers[name] = [str(size)] if isinstance(headers[name], list) else str(size)


@functools.cache
def _dumper() -> Any:
    """A YAML dumper with block scalars for multi-line text (built on first use)."""
    yaml = _yaml()

    def represent_str(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    dumper: Any = type("ReadableDumper", (yaml.SafeDumper,), {})
    dumper.add_representer(str, represent_str)
    return dumper


class ReadableSerializer:
    """A vcrpy serializer writing JSON bodies as data and SSE streams as event lists."""

    @staticmethod
    def serialize(cassette_dict: dict[str, Any]) -> str:
        """vcrpy's cassette dict -> readable YAML."""
        interactions = []
        for interaction in cassette_dict.get("interactions", []):
            request = interaction["request"]
            response = interaction["response"]
            req_type = _header(request.get("headers") or {}, "content-type")
            resp_type = _header(response.get("headers") or {}, "content-type")
            interactions.append(
                {
                    "request": {
                        "method": request["method"],
                        "uri": request["uri"],
                        "headers": request.get("headers") or {},
                        "body": _readable_body(request.get("body"), req_type),
                    },
                    "response": {
                        "status": response["status"],
                        "headers": response.get("headers") or {},
                        "body": _readable_body(
                            (response.get("body") or {}).get("string"), resp_type
                        ),
                    },
                }
            )
        data: dict[str, Any] = {"version": cassette_dict.get("version", 1)}
        if cassette_dict.get("metadata"):
            data["metadata"] = cassette_dict["metadata"]
        data["interactions"] = interactions
        text: str = _yaml().dump(
            data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100
        )
        return text

    @staticmethod
    def deserialize(cassette_string: str) -> dict[str, Any]:
        """Readable YAML (or a plain vcrpy cassette) -> vcrpy's cassette dict."""
        data = _yaml().safe_load(cassette_string) or {}
        for interaction in data.get("interactions", []):
            request = interaction["request"]
            request["body"] = _raw_body(request.get("body"))
            response = interaction["response"]
            raw = _raw_body(response.get("body"))
            response["body"] = {"string": raw}
            response["headers"] = dict(response.get("headers") or {})
            _fix_content_length(response["headers"], raw)
        return dict(data)


def _readable_request(request: Any) -> dict[str, Any]:
    headers = {k: v if isinstance(v, list) else [v] for k, v in request.headers.items()}
    content_type = _header(headers, "content-type")
    return {
        "method": request.method,
        "uri": request.uri,
        "headers": headers,
        "body": _readable_body(request.body, content_type),
    }


def _readable_response(response: Mapping[str, Any]) -> dict[str, Any]:
    headers = dict(response.get("headers") or {})
    body = (response.get("body") or {}).get("string")
    return {
        "status": response.get("status"),
        "headers": headers,
        "body": _readable_body(body, _header(headers, "content-type")),
    }
