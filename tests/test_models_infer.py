"""Model strings and profiles: routes, keys, families, user registrations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentkit._errors import ConfigurationError
from agentkit.messages import UserMessage
from agentkit.models import profiles
from agentkit.models.base import Model, ModelProfile, ModelRequest, complete
from agentkit.models.infer import infer_model
from agentkit.models.openai import OpenAIChatModel
from agentkit.models.profiles import (
    GENERIC_PROFILE,
    LLAMA_CPP_PROFILE,
    MISTRAL_PROFILE,
    MISTRAL_SMALL_PROFILE,
    OPENAI_PROFILE,
    profile_for,
    register_profile,
)
from agentkit.testing.server import LocalModelServer, reply_text
from agentkit.usage import ModelPrice

# Start every test with no provider key or base URL in the environment.
pytestmark = pytest.mark.usefixtures("no_keys")

HI = ModelRequest(messages=[UserMessage(content="hi")])


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give the test its own profile registry."""
    monkeypatch.setattr(profiles, "_registry", [])
    monkeypatch.setattr(profiles, "_cache", {})
    yield


def chat_model(model: Model) -> OpenAIChatModel:
    """The model as an OpenAIChatModel (what every string gives)."""
    assert isinstance(model, OpenAIChatModel)
    return model


# --------------------------------------------------------------------------- strings


def test_opper_string() -> None:
    """'opper:' goes to Opper's compat endpoint with OPPER_API_KEY and Mistral Small's profile."""
    model = chat_model(infer_model("opper:mistral/mistral-small-2506"))
    assert model.name == "mistral/mistral-small-2506"
    assert model.base_url == "https://api.opper.ai/v3/compat"
    assert model.api_key_env == "OPPER_API_KEY"
    assert model.profile is MISTRAL_SMALL_PROFILE


def test_mistral_string() -> None:
    """'mistral:' goes to Mistral's API with MISTRAL_API_KEY and the Mistral dialect."""
    model = chat_model(infer_model("mistral:mistral-small-2506"))
    assert model.name == "mistral-small-2506"
    assert model.base_url == "https://api.mistral.ai/v1"
    assert model.api_key_env == "MISTRAL_API_KEY"
    assert model.profile.tool_call_id_style == "mistral"


@pytest.mark.anyio
async def test_openai_string_honours_openai_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """'openai:' reads OPENAI_API_KEY and OPENAI_BASE_URL (a real request to a local server)."""
    with LocalModelServer([reply_text("hello")]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
        model = chat_model(infer_model("openai:gpt-4o-mini"))
        response = await complete(model, HI)
    assert response.message.content == "hello"
    assert model.profile is OPENAI_PROFILE
    assert server.requests[0].headers["authorization"] == "Bearer sk-local"
    assert server.requests[0].body["model"] == "gpt-4o-mini"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("spec", "variable"),
    [
        ("opper:mistral/mistral-small-2506", "OPPER_API_KEY"),
        ("mistral:mistral-small-2506", "MISTRAL_API_KEY"),
        ("openai:gpt-4o-mini", "OPENAI_API_KEY"),
    ],
)
async def test_missing_key_names_the_variable_at_first_use(spec: str, variable: str) -> None:
    """A string whose key is unset builds; its first request is a ConfigurationError naming it."""
    model = infer_model(spec)
    with pytest.raises(ConfigurationError, match=f"set the environment variable {variable}"):
        await complete(model, HI)


def test_default_uses_opper_when_its_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """No model given and OPPER_API_KEY set: Mistral Small 3.2 through Opper."""
    monkeypatch.setenv("OPPER_API_KEY", "op")
    monkeypatch.setenv("MISTRAL_API_KEY", "mi")
    model = chat_model(infer_model(None))
    assert model.name == "mistral/mistral-small-2506"
    assert model.base_url == "https://api.opper.ai/v3/compat"
    assert model.profile is MISTRAL_SMALL_PROFILE


def test_default_uses_mistral_when_only_its_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """No model given and only MISTRAL_API_KEY set: Mistral Small 3.2 on Mistral's API."""
    monkeypatch.setenv("MISTRAL_API_KEY", "mi")
    model = chat_model(infer_model(None))
    assert model.name == "mistral-small-2506"
    assert model.base_url == "https://api.mistral.ai/v1"


def test_default_without_keys_names_both_variables() -> None:
    """No model and no key: a ConfigurationError naming OPPER_API_KEY and MISTRAL_API_KEY."""
    with pytest.raises(ConfigurationError) as info:
        infer_model(None)
    assert "OPPER_API_KEY" in str(info.value)
    assert "MISTRAL_API_KEY" in str(info.value)


def test_bare_names_route_by_family(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare Mistral name takes the Mistral route with a key set; a gpt- name goes to OpenAI."""
    monkeypatch.setenv("MISTRAL_API_KEY", "mi")
    assert chat_model(infer_model("mistral-small-2506")).base_url == "https://api.mistral.ai/v1"
    assert chat_model(infer_model("gpt-4o")).api_key_env == "OPENAI_API_KEY"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("anthropic:claude", "Unknown provider 'anthropic'"),
        ("opper:", "names no model"),
        ("my-model", "Cannot tell where to send model 'my-model'"),
    ],
)
def test_bad_strings_say_what_to_write(spec: str, message: str) -> None:
    """Unknown providers, empty names and unroutable names are ConfigurationErrors with advice."""
    with pytest.raises(ConfigurationError, match=message):
        infer_model(spec)


def test_model_instances_pass_through() -> None:
    """A Model instance is returned as it is."""
    model = OpenAIChatModel("x", base_url="http://127.0.0.1:9/v1")
    assert infer_model(model) is model


# --------------------------------------------------------------------------- profiles


def test_mistral_small_profile_facts() -> None:
    """Mistral Small 3.2: 128K context, 8K output, $0.10/$0.30 ($0.01 cached), vision, tools,
    json_schema, 0.15."""
    p = profile_for("mistral-small-2506")
    assert p.context_window == 128_000
    assert p.max_output_tokens == 8_192
    assert p.price == ModelPrice(0.10, 0.30, cached_input_per_mtok=0.01)
    assert (p.supports_vision, p.supports_tools, p.supports_json_schema) == (True, True, True)
    assert p.output_mode == "native"
    assert p.provider == "mistral_ai"
    assert p.default_temperature == 0.15
    assert p.strict_message_order and p.tool_call_id_style == "mistral"
    assert {"max_completion_tokens", "store", "metadata"} <= p.rejected_fields


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mistral-small-2506", MISTRAL_SMALL_PROFILE),
        ("mistral/mistral-small-2506", MISTRAL_SMALL_PROFILE),
        ("MISTRAL-SMALL-2506", MISTRAL_SMALL_PROFILE),
        ("mistral-large-latest", MISTRAL_PROFILE),
        ("gpt-4o-mini", OPENAI_PROFILE),
        ("qwen2.5-7b-instruct-q4.gguf", LLAMA_CPP_PROFILE),
        ("some-unknown-model", GENERIC_PROFILE),
    ],
)
def test_profiles_match_by_family(name: str, expected: ModelProfile) -> None:
    """profile_for matches the family whatever the route prefix or case."""
    assert profile_for(name) is expected


@pytest.mark.parametrize("name", ["magistral-medium-2509", "ministral-8b", "codestral-2508"])
def test_mistral_family_members_get_the_mistral_dialect(name: str) -> None:
    """Every Mistral family member speaks the Mistral dialect."""
    assert profile_for(name).tool_call_id_style == "mistral"
    assert profile_for(name).provider == "mistral_ai"


def test_llama_cpp_profile_dialect() -> None:
    """llama.cpp: json_object + schema, no 'required' tool_choice, never null content, output
    through the final-result tool, and every workaround for its server's gaps turned on."""
    p = LLAMA_CPP_PROFILE
    assert not p.supports_json_schema and p.json_object_with_schema
    assert p.tool_choice_required is None
    assert p.assistant_content_never_null
    assert p.output_mode == "tool"
    assert p.tool_results_as_user_text and p.default_tool_choice == "auto"
    assert not p.stream_tool_requests
    assert p.retry_text_without_tools and p.retry_required_with_output_tool


def test_register_profile_by_substring_wins_over_builtins(clean_registry: None) -> None:
    """A user registration (substring, case-insensitive) overrides the built-in match."""
    mine = MISTRAL_SMALL_PROFILE.with_changes(name="my-small", max_output_tokens=1000)
    register_profile("Mistral-Small", mine)
    assert profile_for("mistral-small-2506") is mine
    assert profile_for("gpt-4o") is OPENAI_PROFILE


def test_register_profile_by_predicate_latest_wins(clean_registry: None) -> None:
    """Predicates work, and the latest registration wins over earlier ones."""
    first = GENERIC_PROFILE.with_changes(name="first")
    second = GENERIC_PROFILE.with_changes(name="second")
    register_profile(lambda name: name.startswith("corp/"), first)
    assert profile_for("corp/model-a") is first
    register_profile("corp/", second)
    assert profile_for("corp/model-a") is second
    assert profile_for("other") is GENERIC_PROFILE


def test_explicit_profile_wins_over_the_registry() -> None:
    """OpenAIChatModel(profile=...) uses that profile whatever the name."""
    custom = GENERIC_PROFILE.with_changes(name="custom")
    assert OpenAIChatModel("mistral-small-2506", profile=custom).profile is custom
