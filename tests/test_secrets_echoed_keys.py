"""A key the server echoes back (in an error's text or a malformed 200) never reaches the
error agentkit raises: not its message, repr, args or body."""

from __future__ import annotations

import json

import pytest
from support import model_on

from agentkit import Agent
from agentkit._errors import AuthenticationError, ModelAPIError, ServerError
from agentkit.models import RetryPolicy
from agentkit.testing.server import LocalModelServer, Reply, reply_error

KEY = "sk-test-0123456789abcdefSECRET"


@pytest.mark.parametrize("status", [401, 400, 500])
@pytest.mark.anyio
async def test_a_key_the_server_echoes_is_redacted_from_errors(status: int) -> None:
    """The server's text repeating the key never puts the key in the error agentkit raises."""
    message = f"Incorrect API key provided: {KEY}. You can find your key at ..."
    retry = RetryPolicy(max_retries=0)
    with LocalModelServer([reply_error(status, message)]) as server:
        with pytest.raises(ModelAPIError) as info:
            await Agent(model_on(server, "gpt-4o-mini", api_key=KEY, retry=retry)).run("hi")
    exc = info.value
    assert isinstance(exc, AuthenticationError | ServerError | ModelAPIError)
    for shown in (str(exc), repr(exc), str(exc.args), json.dumps(exc.body, default=str)):
        assert KEY not in shown
    assert "Incorrect API key provided" in str(exc)


@pytest.mark.anyio
async def test_a_key_echoed_in_a_200_shape_error_is_redacted() -> None:
    """A malformed 200 that repeats the key keeps it out of the message and the body."""
    body = json.dumps({"error": {"message": f"bad key {KEY}"}}).encode()
    with LocalModelServer([Reply(body=body)]) as server:
        with pytest.raises(ModelAPIError) as info:
            await Agent(model_on(server, "gpt-4o-mini", api_key=KEY)).run("hi")
    assert KEY not in str(info.value) and KEY not in str(info.value.body)
