"""Readable, secret-free cassettes of model conversations, built on vcrpy.

A cassette is a YAML file of recorded HTTP exchanges. agentkit's cassettes differ
from vcrpy's defaults in four ways, each because the default goes wrong for
recorded model conversations:

* **Readable.** JSON bodies are stored as YAML data, not escaped strings, and a
  server-sent-event stream is stored as a list of events; a streamed answer is
  replayed event by event, as separate chunks, not as one blob.
* **Secret-free.** ``Authorization``, api-key headers and query parameters,
  cookies, organisation and project ids, the values of known API-key environment
  variables and any value you name are replaced by ``<scrubbed>`` before they are
  stored. A cassette that still holds something that looks like a key fails to
  load (and is never written), with an error naming the file and the field.
* **Body-matched.** Requests match on method, URL and the normalised JSON body
  (loopback ports are ignored, so a local server may come up on any port). A
  request that differs from the recording fails with a unified diff of what
  changed; it never replays a wrong answer.
* **Fully played.** Leaving recorded exchanges unplayed is an error.

Use it through the pytest plugin (``@pytest.mark.vcr``) or directly::

    with use_cassette("tests/cassettes/weather.yaml", record_mode="once"):
        result = await agent.run("What is the weather in Paris?")
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import importlib
import json
import logging
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agentkit._errors import UserError
from agentkit.testing._cassette_format import (
    ReadableSerializer,
    _readable_request,
    _readable_response,
    _to_text,
    _yaml,
)

__all__ = [
    "DEFAULT_IGNORED_FIELDS",
    "KEY_ENV_VARS",
    "SCRUBBED",
    "CassetteError",
    "CassetteMismatchError",
    "CassetteOptions",
    "CassetteSecretError",
    "UnplayedInteractionsError",
    "check_cassette",
    "configure_vcr",
    "find_secrets",
    "load_cassette_data",
    "use_cassette",
]

SCRUBBED = "<scrubbed>"
"""What a scrubbed secret is replaced with in a cassette."""

KEY_ENV_VARS: tuple[str, ...] = (
    "MISTRAL_API_KEY",
    "OPPER_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "TOGETHER_API_KEY",
    "HF_TOKEN",
)
"""Environment variables whose values are never written to a cassette."""

DEFAULT_IGNORED_FIELDS: tuple[str, ...] = ("metadata", "prompt_cache_key", "safety_identifier")
"""Request-body fields that do not take part in matching (they vary between runs)."""

_SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "openai-organization",
        "openai-project",
        "anthropic-organization-id",
    }
)
# A header named for a key, token or secret as a word (Ocp-Apim-Subscription-Key,
# x-functions-key, X-Access-Key, X-Api-Token, X-Client-Secret...) is a secret.
_SECRET_HEADER_RE = re.compile(
    r"api[-_]?key|auth|token$|secret|cookie|session|password|organi[sz]ation|(^|-)org-id$|(^|-)project(-id)?$"
    r"|(^|[-_])(key|token|secret|credentials?)($|[-_])",
    re.IGNORECASE,
)
_NOISE_HEADER_PREFIXES = ("x-stainless-",)
_SECRET_QUERY_PARAMS = frozenset(
    {"api-key", "api_key", "apikey", "key", "access_token", "token", "auth", "signature", "sig"}
)
_SECRET_BODY_FIELDS = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "secret",
        "authorization",
    }
)
# Field names whose string values are checked for high-entropy tokens at load time.
_AUTHISH_FIELD_RE = re.compile(
    r"auth|api[-_]?key|secret|token$|password|passwd|cookie|session|credential|signature",
    re.IGNORECASE,
)
_KEY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "an API key (sk-...)",
        re.compile(r"(?<![A-Za-z0-9])sk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ),
    ("a bearer token", re.compile(r"Bearer\s+(?!<scrubbed>)[A-Za-z0-9._~+/=-]{16,}")),
    ("an AWS access key", re.compile(r"(?<![A-Z0-9])AKIA[0-9A-Z]{16}(?![A-Z0-9])")),
    ("a GitHub token", re.compile(r"(?<![A-Za-z0-9])(?:ghp|gho|ghs|ghu)_[A-Za-z0-9]{30,}")),
    ("a GitHub token", re.compile(r"github_pat_[A-Za-z0-9_]{30,}")),
    ("a Google API key", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}")),
    ("a Hugging Face token", re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}")),
    ("a Slack token", re.compile(r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}")),
)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_SSE_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class CassetteError(UserError):
    """A cassette cannot be used: it holds a secret, or the test does not match it."""


class CassetteSecretError(CassetteError):
    """A cassette holds something that looks like a secret.

    ``.path`` is the cassette file, ``.field`` the dotted path of the value inside it.
    """

    def __init__(self, message: str, *, path: str, field: str) -> None:
        super().__init__(message)
        self.path = path
        self.field = field


class CassetteMismatchError(CassetteError):
    """The code under test sent a request the cassette did not record.

    The message holds a unified diff between the recorded and the sent request.
    """


class UnplayedInteractionsError(CassetteError, AssertionError):
    """A test ended with recorded exchanges it never sent."""


@dataclass(frozen=True)
class CassetteOptions:
    """What is scrubbed from cassettes and what is ignored when matching requests."""

    secrets: tuple[str, ...] = ()
    """Literal values (tokens, account ids, ...) never written to a cassette."""
    secret_env: tuple[str, ...] = KEY_ENV_VARS
    """Environment variables whose current values are never written to a cassette."""
    ignore_fields: tuple[str, ...] = DEFAULT_IGNORED_FIELDS
    """Top-level request-body fields left out when matching."""
    environ: Mapping[str, str] | None = field(default=None, compare=False, repr=False)
    """Where ``secret_env`` is looked up; ``None`` means ``os.environ``."""

    def secret_values(self) -> tuple[str, ...]:
        """Every literal value to scrub: ``secrets`` plus the named variables' values."""
        env = os.environ if self.environ is None else self.environ
        values = [*self.secrets, *(env.get(name, "") for name in self.secret_env)]
        # Very short values would scrub ordinary text; a real key is never this short.
        return tuple(sorted({v for v in values if len(v) >= 8}, key=len, reverse=True))


# --------------------------------------------------------------------------- scrubbing


def _is_secret_header(name: str) -> bool:
    lname = name.lower()
    if lname.startswith("x-ratelimit"):
        return False
    return lname in _SECRET_HEADERS or bool(_SECRET_HEADER_RE.search(lname))


def _replace_values(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, SCRUBBED)
        escaped = json.dumps(secret)[1:-1]
        if escaped != secret:
            text = text.replace(escaped, SCRUBBED)
    return text


def _scrub_json_fields(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: (SCRUBBED if k.lower() in _SECRET_BODY_FIELDS and v else _scrub_json_fields(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_scrub_json_fields(v) for v in data]
    return data


def _scrub_body(body: Any, secrets: Sequence[str]) -> Any:
    text = _to_text(body)
    if not isinstance(text, str) or not text:
        return body
    new = _replace_values(text, secrets)
    try:
        data = json.loads(new)
    except ValueError:
        data = None
    if isinstance(data, dict | list):
        scrubbed = _scrub_json_fields(data)
        if scrubbed != data:
            new = json.dumps(scrubbed, ensure_ascii=False)
    if new == text:
        return body
    return new.encode("utf-8") if isinstance(body, bytes | bytearray) else new


def _scrub_uri(uri: str, secrets: Sequence[str]) -> str:
    parts = urlsplit(_replace_values(uri, secrets))
    if not parts.query:
        return urlunsplit(parts)
    query = [
        (k, SCRUBBED if k.lower() in _SECRET_QUERY_PARAMS and v else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="<>")))


def _scrub_header_dict(headers: Mapping[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in headers.items():
        if name.lower().startswith(_NOISE_HEADER_PREFIXES):
            continue
        if _is_secret_header(name):
            out[name] = [SCRUBBED] if isinstance(value, list | tuple) else SCRUBBED
        elif isinstance(value, list | tuple):
            out[name] = [_replace_values(str(v), secrets) for v in value]
        else:
            out[name] = _replace_values(str(value), secrets)
    return out


def _scrub_request(request: Any, options: CassetteOptions) -> Any:
    """A copy of a vcrpy request with every secret replaced by ``<scrubbed>``."""
    request = copy.deepcopy(request)
    secrets = options.secret_values()
    headers = _scrub_header_dict(dict(request.headers.items()), secrets)
    for name in list(request.headers.keys()):
        del request.headers[name]
    for name, value in headers.items():
        request.headers[name] = value
    request.uri = _scrub_uri(request.uri, secrets)
    request.body = _scrub_body(request.body, secrets)
    return request


def _scrub_response(response: dict[str, Any], options: CassetteOptions) -> dict[str, Any]:
    """A copy of a vcrpy response dict with every secret replaced by ``<scrubbed>``."""
    response = copy.deepcopy(response)
    secrets = options.secret_values()
    response["headers"] = _scrub_header_dict(response.get("headers") or {}, secrets)
    body = response.get("body")
    if isinstance(body, dict) and "string" in body:
        body["string"] = _scrub_body(body["string"], secrets)
    return response


# --------------------------------------------------------------------------- matching


def _normalise(data: Any, ignore_fields: Iterable[str]) -> Any:
    """The request body as compared: volatile fields dropped, tool-call ids numbered."""
    if not isinstance(data, dict):
        return data
    data = {k: v for k, v in data.items() if k not in set(ignore_fields)}
    messages = data.get("messages")
    if isinstance(messages, list):
        ids: dict[str, str] = {}

        def number(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            return ids.setdefault(value, f"<call {len(ids) + 1}>")

        normalised = []
        for message in messages:
            if not isinstance(message, dict):
                normalised.append(message)
                continue
            message = dict(message)
            if isinstance(message.get("tool_calls"), list):
                message["tool_calls"] = [
                    {**call, "id": number(call.get("id"))} if isinstance(call, dict) else call
                    for call in message["tool_calls"]
                ]
            if "tool_call_id" in message:
                message["tool_call_id"] = number(message["tool_call_id"])
            normalised.append(message)
        data["messages"] = normalised
    return data


def _comparable(request: Any, ignore_fields: Iterable[str]) -> tuple[str, Any]:
    text = _to_text(request.body)
    if not text:
        return ("empty", None)
    if isinstance(text, bytes):
        return ("bytes", text)
    try:
        return ("json", _normalise(json.loads(text), ignore_fields))
    except ValueError:
        return ("text", text)


def _pretty(kind: str, value: Any) -> list[str]:
    if kind == "json":
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    if kind == "text":
        return str(value).splitlines()
    if kind == "bytes":
        return [f"<{len(value)} bytes of binary data>"]
    return ["<no body>"]


def _body_diff(recorded: Any, sent: Any, ignore_fields: Iterable[str] = ()) -> str | None:
    """A unified diff from the recorded request's body to the sent one's, or ``None``."""
    a = _comparable(recorded, ignore_fields)
    b = _comparable(sent, ignore_fields)
    if a == b:
        return None
    lines = difflib.unified_diff(
        _pretty(*a), _pretty(*b), fromfile="recorded", tofile="sent", lineterm="", n=3
    )
    return "\n".join(lines) or "the bodies differ in type"


def _body_matcher(options: CassetteOptions) -> Callable[[Any, Any], None]:
    def body(sent: Any, recorded: Any) -> None:
        diff = _body_diff(recorded, sent, options.ignore_fields)
        if diff is not None:
            raise AssertionError(diff)

    return body


def _host_matcher(sent: Any, recorded: Any) -> None:
    if sent.host != recorded.host:
        raise AssertionError(f"{sent.host} != {recorded.host}")
    if sent.host not in _LOOPBACK_HOSTS and sent.port != recorded.port:
        raise AssertionError(f"port {sent.port} != {recorded.port}")


_host_matcher.__name__ = "host"


# --------------------------------------------------------------------------- secrets


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_like_token(value: str) -> bool:
    if len(value) < 20 or value == SCRUBBED or re.search(r"\s", value):
        return False
    if not (re.search(r"[A-Za-z]", value) and re.search(r"[0-9]", value)):
        return False
    return _entropy(value) >= 3.5


def _walk(data: Any, path: str, key: str = "") -> Iterator[tuple[str, str, str]]:
    """(dotted path, nearest key, string value) for every string inside ``data``."""
    if isinstance(data, str):
        yield path, key, data
    elif isinstance(data, dict):
        for name, value in data.items():
            yield from _walk(value, f"{path}.{name}" if path else str(name), str(name))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk(value, f"{path}[{index}]", key)


def find_secrets(data: Any, options: CassetteOptions | None = None) -> list[tuple[str, str]]:
    """Every ``(field, what)`` in parsed cassette data that looks like a secret."""
    options = options or CassetteOptions()
    secrets = options.secret_values()
    found: list[tuple[str, str]] = []
    for path, key, value in _walk(data, ""):
        if value == SCRUBBED:
            continue
        in_headers = ".headers." in f".{path}"
        if in_headers and _is_secret_header(key):
            found.append((path, f"the {key} header (it must be {SCRUBBED!r})"))
            continue
        named = next((s for s in secrets if s in value), None)
        if named is not None:
            found.append((path, "a value named as a secret (a key variable or a listed secret)"))
            continue
        pattern = next((what for what, rx in _KEY_PATTERNS if rx.search(value)), None)
        if pattern is not None:
            found.append((path, pattern))
            continue
        if key and _AUTHISH_FIELD_RE.search(key) and _looks_like_token(value):
            found.append((path, f"a token-like value in the {key!r} field"))
            continue
        if key == "uri":
            for name, param in parse_qsl(urlsplit(value).query, keep_blank_values=True):
                if name.lower() in _SECRET_QUERY_PARAMS and param and param != SCRUBBED:
                    found.append((f"{path}?{name}", f"the {name!r} query parameter"))
    return found


def _secret_error(path: str, found: list[tuple[str, str]], *, writing: bool) -> CassetteSecretError:
    field, what = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    if writing:
        message = (
            f"refusing to record {path}: its field {field} holds what looks like "
            f"{what}{more}. Name the value as a secret (@pytest.mark.agentkit_secrets(...), "
            "CassetteOptions(secrets=...)) so it is scrubbed when recording."
        )
    else:
        message = (
            f"cassette {path} holds what looks like a secret: field {field} holds {what}{more}. "
            "Revoke the key if it is real, delete the cassette and record it again "
            "(agentkit scrubs keys when recording)."
        )
    return CassetteSecretError(message, path=path, field=field)


def load_cassette_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A cassette file as plain data (bodies as ``json``, ``sse`` or ``string``), for assertions."""
    data = _yaml().safe_load(Path(path).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def check_cassette(path: str | os.PathLike[str], options: CassetteOptions | None = None) -> None:
    """Raise ``CassetteSecretError`` if the cassette file holds something like a secret."""
    text = Path(path).read_text(encoding="utf-8")
    data = _yaml().safe_load(text)
    found = find_secrets(data, options)
    if found:
        raise _secret_error(os.fspath(path), found, writing=False)


class _CheckedPersister:
    """A vcrpy persister that scrubs before saving and refuses cassettes holding secrets."""

    def __init__(self, base: Any, options: CassetteOptions) -> None:
        self.base = base
        self.options = options

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        """Check the cassette (and any extra cassettes pytest-recording loads), then load it."""
        extra = [os.fspath(p) for p in getattr(self.base, "extra_paths", ())]
        for path in [os.fspath(cassette_path), *extra]:
            if Path(path).is_file():
                check_cassette(path, self.options)
        return self.base.load_cassette(cassette_path, serializer)

    def save_cassette(
        self, cassette_path: str, cassette_dict: dict[str, Any], serializer: Any
    ) -> None:
        """Scrub every exchange again and save those holding nothing like a secret.

        The recording hooks already refuse secrets; this is the last gate, for hooks a
        user replaced. It cannot raise (vcrpy would leave its patches installed), so an
        exchange still holding a secret is left out of the file, with a warning.
        """
        requests = [_scrub_request(r, self.options) for r in cassette_dict["requests"]]
        responses = [_scrub_response(r, self.options) for r in cassette_dict["responses"]]
        kept_requests, kept_responses = [], []
        for index, (request, response) in enumerate(zip(requests, responses, strict=True)):
            found = _exchange_secrets(request, response, self.options)
            if found:
                field, what = found[0]
                warnings.warn(
                    f"cassette {os.fspath(cassette_path)}: exchange #{index + 1} was not "
                    f"written: field {field} holds what looks like {what}. Name the value "
                    "as a secret so it is scrubbed when recording.",
                    stacklevel=2,
                )
                continue
            kept_requests.append(request)
            kept_responses.append(response)
        cassette_dict = {**cassette_dict, "requests": kept_requests, "responses": kept_responses}
        self.base.save_cassette(cassette_path, cassette_dict, serializer)


def _exchange_secrets(
    request: Any, response: Mapping[str, Any] | None, options: CassetteOptions
) -> list[tuple[str, str]]:
    data: dict[str, Any] = {"request": _readable_request(request)}
    if response is not None:
        data["response"] = _readable_response(response)
    return find_secrets(data, options)


def _recording_hooks(
    options: CassetteOptions,
) -> tuple[Callable[[Any], Any], Callable[[dict[str, Any]], dict[str, Any]]]:
    """vcrpy hooks that scrub each request and response, then refuse any secret left."""

    def before_record_request(request: Any) -> Any:
        scrubbed = _scrub_request(request, options)
        found = _exchange_secrets(scrubbed, None, options)
        if found:
            raise _secret_error(f"{request.method} {scrubbed.uri}", found, writing=True)
        return scrubbed

    def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
        scrubbed = _scrub_response(response, options)
        found = find_secrets({"response": _readable_response(scrubbed)}, options)
        if found:
            raise _secret_error("a response", found, writing=True)
        return scrubbed

    return before_record_request, before_record_response


class _RawResponseFilter(logging.Filter):
    """vcrpy logs each recorded response (at INFO) before the scrubbing hook has run, so a
    key the server echoed would reach the logs; the record keeps the request (already
    scrubbed) and only the response's status."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], Mapping):
            status = (args[1].get("status") or {}).get("code")
            record.args = (args[0], f"<status {status}; headers and body as scrubbed>")
        return True


_RAW_RESPONSE_FILTER = _RawResponseFilter()


def configure_vcr(vcr: Any, options: CassetteOptions | None = None) -> None:
    """Give a ``vcr.VCR`` agentkit's format, scrubbing, secret check and body matching.

    Public for code that builds its own ``vcr.VCR`` (another test runner, a hand-made
    pytest-recording setup); ``use_cassette`` and the pytest plugin call it for you.
    """
    options = options or CassetteOptions()
    vcr_log = logging.getLogger("vcr.cassette")
    if _RAW_RESPONSE_FILTER not in vcr_log.filters:  # once per process, idempotent
        vcr_log.addFilter(_RAW_RESPONSE_FILTER)
    vcr.register_serializer("yaml", ReadableSerializer())
    vcr.register_matcher("body", _body_matcher(options))
    vcr.register_matcher("host", _host_matcher)
    vcr.match_on = ("method", "scheme", "host", "path", "query", "body")
    vcr.before_record_request, vcr.before_record_response = _recording_hooks(options)
    vcr.decode_compressed_response = True
    vcr.register_persister(_CheckedPersister(vcr.persister, options))


# --------------------------------------------------------------------------- replay


@functools.cache
def _event_stream_class() -> Any:
    """httpx2 stream types, subclassed on first use so httpx2 is imported lazily."""
    httpx2 = importlib.import_module("httpx2")

    sync_base: Any = httpx2.SyncByteStream
    async_base: Any = httpx2.AsyncByteStream

    class EventStream(sync_base, async_base):  # type: ignore[misc]
        """A response body handed over one server-sent event per chunk."""

        def __init__(self, chunks: list[bytes]) -> None:
            self._chunks = chunks

        def __iter__(self) -> Iterator[bytes]:
            yield from self._chunks

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in self._chunks:
                yield chunk

    return EventStream


def _split_events(body: bytes) -> list[bytes]:
    chunks, start = [], 0
    for match in _SSE_BOUNDARY.finditer(body):
        chunks.append(body[start : match.end()])
        start = match.end()
    if start < len(body):
        chunks.append(body[start:])
    return chunks


def _describe(request: Any) -> str:
    text = _to_text(request.body)
    last = ""
    if isinstance(text, str):
        try:
            messages = json.loads(text).get("messages") or []
        except (ValueError, AttributeError):
            messages = []
        if messages and isinstance(messages[-1], dict):
            content = messages[-1].get("content")
            snippet = json.dumps(content, ensure_ascii=False) if content is not None else "null"
            if len(snippet) > 80:
                snippet = snippet[:77] + "..."
            last = f" (last message: {messages[-1].get('role')}: {snippet})"
    return f"{request.method} {request.uri}{last}"


def _mismatch(error: Any, options: CassetteOptions) -> Exception:
    """A focused error for vcrpy's "cannot play back" exception."""
    cassette = error.cassette
    sent = error.failed_request
    path = cassette._path
    if error.reason == "cassette_not_found":
        return CassetteMismatchError(
            f"no recording to replay for {_describe(sent)}: cassette {path} does not exist. "
            "Record it once against the real endpoint with `pytest --record-mode=once` "
            "(or tools/record_cassettes.py); replaying never touches the network."
        )
    candidates = [
        (index, recorded)
        for index, (recorded, _response) in enumerate(cassette.data)
        if cassette.play_counts[index] == 0
        and recorded.method == sent.method
        and recorded.path == sent.path
    ]
    if error.reason == "already_played" or (not candidates and cassette.all_played):
        return CassetteMismatchError(
            f"the code sent one request more than cassette {path} recorded ({len(cassette)} "
            f"exchanges, all played already): {_describe(sent)}. If the extra request is "
            "intended, record the cassette again with `pytest --record-mode=rewrite`."
        )
    if not candidates:
        return CassetteMismatchError(f"{error}")
    index, recorded = candidates[0]
    diff = _body_diff(recorded, sent, options.ignore_fields) or (
        f"the URL differs: recorded {recorded.uri}, sent {sent.uri}"
    )
    return CassetteMismatchError(
        f"request does not match cassette {path}: {sent.method} {sent.uri} differs from "
        f"recorded exchange #{index + 1}, the next one not yet played. It would replay a wrong "
        f"answer, so it fails instead. What changed (- recorded, + sent):\n{diff}\n"
        "If the change is intended, record the cassette again with `pytest --record-mode=rewrite`."
    )


@contextlib.contextmanager
def _replay_streams(options: CassetteOptions | None = None) -> Iterator[None]:
    """Inside an active cassette: replay SSE bodies chunk by chunk and explain mismatches.

    Wraps httpx2's transports (already patched by vcrpy) so a streamed answer
    reaches the client one event per chunk, and a request the cassette lacks
    raises ``CassetteMismatchError`` with a diff instead of vcrpy's generic error.
    Enter it after the cassette and leave it before.
    """
    options = options or CassetteOptions()
    httpx2 = importlib.import_module("httpx2")
    errors = importlib.import_module("vcr.errors")
    cannot = errors.CannotOverwriteExistingCassetteException

    def chunked(response: Any) -> Any:
        if "text/event-stream" in response.headers.get("content-type", ""):
            stream = response.stream
            if isinstance(stream, httpx2.ByteStream):
                response.stream = _event_stream_class()(_split_events(b"".join(stream)))
        return response

    targets = [
        (httpx2.AsyncHTTPTransport, "handle_async_request", True),
        (httpx2.HTTPTransport, "handle_request", False),
    ]
    saved = [(cls, name, getattr(cls, name)) for cls, name, _ in targets]

    def wrap(inner: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
        if is_async:

            async def handle_async(self: Any, request: Any) -> Any:
                try:
                    return chunked(await inner(self, request))
                except cannot as error:
                    raise _mismatch(error, options) from error

            return handle_async

        def handle(self: Any, request: Any) -> Any:
            try:
                return chunked(inner(self, request))
            except cannot as error:
                raise _mismatch(error, options) from error

        return handle

    for (cls, name, is_async), (_, _, inner) in zip(targets, saved, strict=True):
        setattr(cls, name, wrap(inner, is_async))
    try:
        yield
    finally:
        for cls, name, inner in saved:
            setattr(cls, name, inner)


def _check_all_played(cassette: Any, loaded: int | None = None) -> None:
    """Raise ``UnplayedInteractionsError`` naming every loaded exchange never played."""
    count = len(cassette.data) if loaded is None else loaded
    unplayed = [i for i in range(count) if cassette.play_counts[i] == 0]
    if not unplayed:
        return
    lines = [f"  #{i + 1} {_describe(cassette.data[i][0])}" for i in unplayed]
    raise UnplayedInteractionsError(
        f"{len(unplayed)} of {count} recorded exchanges in cassette {cassette._path} were "
        "never played: the code made fewer requests than when it was recorded.\n"
        + "\n".join(lines)
        + "\nIf that is intended, record the cassette again with `pytest --record-mode=rewrite`."
    )


def _make_vcr(record_mode: str = "none", options: CassetteOptions | None = None) -> Any:
    """A ``vcr.VCR`` configured by ``configure_vcr`` (``rewrite`` is not a vcrpy mode)."""
    vcr_module = importlib.import_module("vcr")
    vcr = vcr_module.VCR(record_mode=record_mode)
    configure_vcr(vcr, options)
    return vcr


@contextlib.contextmanager
def use_cassette(
    path: str | os.PathLike[str],
    *,
    record_mode: str = "none",
    options: CassetteOptions | None = None,
) -> Iterator[Any]:
    """Record or replay the HTTP exchanges inside the block (outside pytest).

    ``record_mode``: ``none`` (replay only, the default), ``once`` (record if the
    file is missing), ``new_episodes``, ``all``, or ``rewrite`` (delete, then record).
    Yields the vcrpy ``Cassette``. On a clean exit, raises
    ``UnplayedInteractionsError`` if recorded exchanges were never played.
    """
    if record_mode == "rewrite":
        Path(path).unlink(missing_ok=True)
        record_mode = "new_episodes"
    options = options or CassetteOptions()
    vcr = _make_vcr(record_mode, options)
    with vcr.use_cassette(os.fspath(path)) as cassette:
        loaded = len(cassette.data)
        with _replay_streams(options):
            yield cassette
        if record_mode != "all":
            _check_all_played(cassette, loaded)
