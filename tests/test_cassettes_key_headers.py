"""Cassette headers named for a key, token or secret: scrubbed on record, refused on load;
headers that only mention tokens in passing stay in clear."""

from __future__ import annotations

from pathlib import Path

import pytest
from vcr.request import Request  # type: ignore[import-untyped]

from agentkit.testing.cassettes import (
    SCRUBBED,
    CassetteOptions,
    CassetteSecretError,
    _scrub_request,
    _scrub_response,
    check_cassette,
    find_secrets,
)

KEY_HEADERS = [
    "Ocp-Apim-Subscription-Key",
    "x-functions-key",
    "X-Access-Key",
    "X-Api-Token",
    "x-token",
    "X-Client-Secret",
    "x-secret-value",
    "Private-Token",
]
HARMLESS_HEADERS = ["content-type", "x-ratelimit-remaining-tokens", "keep-alive", "x-request-id"]
VALUE = "q7Zr2mK9vX4pL8nW3cT6yB1"
NO_ENV = CassetteOptions(environ={})


@pytest.mark.parametrize("name", KEY_HEADERS)
def test_key_token_and_secret_named_headers_are_scrubbed(name: str) -> None:
    """A request or response header named for a key, token or secret is recorded scrubbed."""
    request = Request("POST", "https://example.test/v1/chat/completions", b"{}", {name: VALUE})
    scrubbed = _scrub_request(request, NO_ENV)
    assert dict(scrubbed.headers)[name] == SCRUBBED
    response = _scrub_response({"headers": {name: [VALUE]}, "body": {"string": b""}}, NO_ENV)
    assert VALUE not in str(response["headers"])


@pytest.mark.parametrize("name", KEY_HEADERS)
def test_a_cassette_with_such_a_header_in_clear_is_refused(name: str, tmp_path: Path) -> None:
    """Replay refuses a cassette that holds one of these headers in clear, naming it."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "interactions:\n"
        "- request:\n"
        "    method: POST\n"
        "    uri: https://example.test/v1/chat/completions\n"
        f"    headers:\n      {name}:\n      - {VALUE}\n"
        "  response:\n    status: {code: 200, message: OK}\n"
        "version: 1\n"
    )
    with pytest.raises(CassetteSecretError, match=name):
        check_cassette(path, NO_ENV)


@pytest.mark.parametrize("name", HARMLESS_HEADERS)
def test_ordinary_headers_stay_in_clear(name: str) -> None:
    """Headers that only mention tokens in passing (rate-limit counts) are not secrets."""
    data = {"interactions": [{"request": {"headers": {name: ["12345"]}}}]}
    assert find_secrets(data, NO_ENV) == []
