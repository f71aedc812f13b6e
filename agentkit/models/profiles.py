"""Model profiles by family: capabilities, limits, prices and dialect flags, as data.

``profile_for(name)`` finds the profile for a model name, whatever the route
(``mistral-small-2506`` directly, ``mistral/mistral-small-2506`` behind a
gateway). Users add their own with ``register_profile``; the most recently
registered match wins, so a user registration overrides a built-in one::

    register_profile("my-finetune", MISTRAL_SMALL_PROFILE.with_changes(name="my-finetune"))
    register_profile(lambda name: name.endswith(".gguf"), LLAMA_CPP_PROFILE)
"""

from __future__ import annotations

from collections.abc import Callable

from agentkit.models.base import ModelProfile
from agentkit.usage import ModelPrice

__all__ = [
    "GENERIC_PROFILE",
    "LLAMA_CPP_PROFILE",
    "MISTRAL_PROFILE",
    "MISTRAL_SMALL_PROFILE",
    "OPENAI_PROFILE",
    "Matcher",
    "profile_for",
    "register_profile",
]

GENERIC_PROFILE = ModelProfile(name="openai-compatible", provider="openai")
"""Any OpenAI-compatible server we know nothing about: conservative, OpenAI's wire format."""

OPENAI_PROFILE = ModelProfile(
    name="openai",
    provider="openai",
    supports_vision=True,
    max_output_tokens=16_384,
    context_window=128_000,
    strict_schema="openai",
)
"""OpenAI's own models (``gpt-*``, ``o*``)."""

_MISTRAL_REJECTED = frozenset(
    {
        "max_completion_tokens",
        "store",
        "metadata",
        "stream_options",
        "logit_bias",
        "service_tier",
        "user",
    }
)

MISTRAL_PROFILE = ModelProfile(
    name="mistral",
    provider="mistral_ai",
    context_window=128_000,
    max_output_tokens=8_192,
    supports_tools=True,
    supports_vision=False,
    supports_json_schema=True,
    supports_json_object=True,
    supports_parallel_tool_calls=True,
    output_mode="native",
    default_temperature=None,
    tool_call_id_style="mistral",
    max_tokens_field="max_tokens",
    tool_choice_required="required",
    supports_named_tool_choice=True,
    strict_schema="mistral",
    rejected_fields=_MISTRAL_REJECTED,
    strict_message_order=True,
    renamed_fields=(("seed", "random_seed"),),
    send_thinking="mistral",
)
"""The Mistral dialect for any Mistral model (``mistral-*``, ``magistral``, ``ministral``...).

Mistral's API answers 400 to tool-call ids that are not 9 alphanumerics and to
messages out of its order, and 422 to fields it does not know; it wants
``random_seed`` for ``seed`` and sends stream usage without ``stream_options``. A
reasoning model's thinking goes back as ``thinking`` chunks leading the assistant's
content list, as its replies carry it.
"""

MISTRAL_SMALL_PROFILE = MISTRAL_PROFILE.with_changes(
    name="mistral-small-2506",
    context_window=128_000,
    max_output_tokens=8_192,
    price=ModelPrice(0.10, 0.30),
    supports_vision=True,
    default_temperature=0.15,
)
"""Mistral Small 3.2 (``mistral-small-2506``): 128K context, 8K output, vision, tools,
native json_schema output, $0.10 / $0.30 per 1M tokens, temperature 0.15."""

LLAMA_CPP_PROFILE = ModelProfile(
    name="llama-cpp",
    provider="llama_cpp",
    max_output_tokens=1_024,
    supports_tools=True,
    supports_vision=False,
    supports_json_schema=False,
    supports_json_object=True,
    json_object_with_schema=True,
    supports_parallel_tool_calls=False,
    output_mode="tool",
    tool_choice_required=None,
    supports_named_tool_choice=True,
    strict_schema="none",
    assistant_content_never_null=True,
    rejected_fields=frozenset(
        {"max_completion_tokens", "store", "metadata", "parallel_tool_calls"}
    ),
    tool_results_as_user_text=True,
    default_tool_choice="auto",
    stream_tool_requests=False,
    retry_text_without_tools=True,
    retry_required_with_output_tool=True,
    unescape_html=True,
    template_tokens=(
        "<|im_start|>",
        "<|im_end|>",
        "<start_of_turn>",
        "<end_of_turn>",
        "<|eot_id|>",
        "<|endoftext|>",
        "<eos>",
        "</s>",
    ),
)
"""llama.cpp's OpenAI-compatible server (llama-cpp-python, ``chatml-function-calling``).

- ``json_schema`` gives HTTP 500: structured output without tools is ``json_object``
  with a ``schema`` (grammar-constrained). But once tools are offered with ``"auto"``,
  ``response_format`` is ignored, so the output mode is ``tool``: the final-result
  tool's arguments are grammar-constrained to its schema, with or without other tools.
- ``tool_choice: "required"`` gives HTTP 500 (a named tool works), so "some tool" is
  sent as ``"auto"`` (or the tool's name, when there is one); when a required call
  comes back as an empty text answer, it is asked again naming the final-result tool.
- Tools sent without ``tool_choice`` are left out of the prompt: ``"auto"`` goes with
  them. Under ``"auto"`` a text answer always comes back empty: the request is asked
  again without tools to get the text.
- A streamed request where the model picks a tool under ``"auto"`` gets an empty body:
  requests that offer tools are sent unstreamed and replayed as deltas.
- The template drops the content of ``tool`` messages: tool results go as user text.
- Null assistant content gives HTTP 500: ``""`` is sent.
- The template renders with autoescape: the model copies ``&#34;`` into its arguments
  and text, so entities are undone; chat-template tokens (``<|im_start|>``...) that leak
  into the text are cut off there.
"""

Matcher = str | Callable[[str], bool]
"""A substring of the (lower-cased) model name, or a predicate on the model name."""

_BUILTIN: tuple[tuple[Matcher, ModelProfile], ...] = (
    ("mistral-small-2506", MISTRAL_SMALL_PROFILE),
    ("mistral-small-latest", MISTRAL_SMALL_PROFILE),
    ("mistral-small", MISTRAL_PROFILE.with_changes(name="mistral-small", supports_vision=True)),
    ("mistral-", MISTRAL_PROFILE),
    ("magistral", MISTRAL_PROFILE.with_changes(name="magistral")),
    ("ministral", MISTRAL_PROFILE.with_changes(name="ministral")),
    ("codestral", MISTRAL_PROFILE.with_changes(name="codestral")),
    ("devstral", MISTRAL_PROFILE.with_changes(name="devstral")),
    ("pixtral", MISTRAL_PROFILE.with_changes(name="pixtral", supports_vision=True)),
    ("gpt-", OPENAI_PROFILE),
    (lambda name: name.endswith(".gguf") or name.startswith("llama-cpp"), LLAMA_CPP_PROFILE),
)

_registry: list[tuple[Matcher, ModelProfile]] = []
_cache: dict[str, ModelProfile] = {}


def register_profile(match: Matcher, profile: ModelProfile) -> None:
    """Use ``profile`` for every model whose name contains ``match`` (case-insensitive)
    or for which ``match(name)`` is true. Later registrations win over earlier ones
    and over the built-in profiles."""
    if isinstance(match, str):
        match = match.lower()
    _registry.append((match, profile))
    _cache.clear()


def profile_for(model_name: str) -> ModelProfile:
    """The profile for a model name, matched by family whatever the route.

    ``"mistral-small-2506"``, ``"mistral/mistral-small-2506"`` and
    ``"mistral-small-2506"`` behind any gateway all get Mistral Small 3.2's profile;
    unknown names get the generic OpenAI-compatible profile.
    """
    cached = _cache.get(model_name)
    if cached is not None:
        return cached
    lowered = model_name.lower()
    found = GENERIC_PROFILE
    for match, profile in (*reversed(_registry), *_BUILTIN):
        if match(model_name) if callable(match) else match in lowered:
            found = profile
            break
    _cache[model_name] = found
    return found
