"""Model profiles by family: capabilities, limits, prices and dialect flags, as data.

``profile_for(name)`` finds the profile for a model name, whatever the route
(``mistral-small-2506`` directly, ``mistral/mistral-small-2506`` behind a
gateway). Users add their own with ``register_profile``; the most recently
registered match wins, so a user registration overrides a built-in one::

    register_profile("my-finetune", MISTRAL_SMALL_PROFILE.with_changes(name="my-finetune"))
    register_profile(lambda name: name.endswith(".gguf"), LLAMA_CPP_PROFILE)
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agentkit.models.base import ModelProfile
from agentkit.usage import ModelPrice

__all__ = [
    "GENERIC_PROFILE",
    "LLAMA_CPP_PROFILE",
    "MISTRAL_LARGE_4_PROFILE",
    "MISTRAL_MEDIUM_3_5_PROFILE",
    "MISTRAL_PROFILE",
    "MISTRAL_SMALL_4_PROFILE",
    "MISTRAL_SMALL_PROFILE",
    "MISTRAL_VOXTRAL_PROFILE",
    "OPENAI_AUDIO_PROFILE",
    "OPENAI_PROFILE",
    "OPENAI_REASONING_PROFILE",
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
    supports_documents=True,
    max_document_bytes=32_000_000,
    max_audio_bytes=25_000_000,
    max_output_tokens=16_384,
    context_window=128_000,
    strict_schema="openai",
    supports_prompt_cache_key=True,
)
"""OpenAI's own chat models (``gpt-4*``...); the reasoning ones (``o*``, ``gpt-5*``) have
``OPENAI_REASONING_PROFILE``. Documents are PDFs, inline or by file id (chat completions
fetch no document URL), at most 32 MB a request (OpenAI's documented limit)."""

OPENAI_AUDIO_PROFILE = OPENAI_PROFILE.with_changes(
    name="openai-audio", supports_audio=True, audio_formats=frozenset({"wav", "mp3"})
)
"""OpenAI's audio-input chat models (``gpt-4o-audio-preview``, ``gpt-audio``...): ``wav`` and
``mp3`` clips as ``input_audio``, at most 25 MB a request (OpenAI's audio upload limit)."""

OPENAI_REASONING_PROFILE = OPENAI_PROFILE.with_changes(
    name="openai-reasoning",
    context_window=200_000,
    max_output_tokens=32_768,
    max_tokens_field="max_completion_tokens",
    system_role="developer",
    reasoning_levels=("low", "medium", "high"),
    rejected_fields=frozenset({"temperature", "top_p", "prediction"}),
)
"""OpenAI's reasoning models (``o1``, ``o3``, ``o3-mini``, ``o4-mini``; ``gpt-5*`` below).

They answer 400 to ``max_tokens`` ("Use 'max_completion_tokens' instead"), to a
``temperature`` or ``top_p`` other than the default, and to predicted output: the cap goes
as ``max_completion_tokens`` (it counts the hidden reasoning tokens too, hence 32K by
default), and sampling settings and ``prediction`` are not sent. Instructions go as
``developer`` messages. ``reasoning_effort``: ``low``, ``medium``, ``high``. No prices:
set them with ``register_profile`` if you want ``cost_usd``."""

_GPT5_PROFILE = OPENAI_REASONING_PROFILE.with_changes(
    name="gpt-5",
    context_window=400_000,
    reasoning_levels=("minimal", "low", "medium", "high"),
)
_GPT5_1_PROFILE = _GPT5_PROFILE.with_changes(
    name="gpt-5.1", reasoning_levels=("none", "low", "medium", "high")
)
_GPT5_2_PROFILE = _GPT5_PROFILE.with_changes(
    name="gpt-5.2", reasoning_levels=("none", "low", "medium", "high", "xhigh")
)

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
    supports_prompt_cache_key=True,
    supports_guardrails=True,
    media_style="mistral",
    max_document_bytes=50_000_000,
    max_audio_bytes=50_000_000,
)
"""The Mistral dialect for any Mistral model (``mistral-*``, ``magistral``, ``ministral``...).

Mistral's API answers 400 to tool-call ids that are not 9 alphanumerics and to
messages out of its order, and 422 to fields it does not know; it wants
``random_seed`` for ``seed`` and sends stream usage without ``stream_options``. A
reasoning model's thinking goes back as ``thinking`` chunks leading the assistant's
content list, as its replies carry it. Documents go as ``document_url`` chunks (a URL or
a data URL; at most 50 MB, Mistral's documented document limit) or ``file`` chunks (an
uploaded file's id); audio as ``input_audio`` base64 text (Voxtral models).
"""

# Mistral bills cached prompt tokens at 10% of the input price (docs.mistral.ai pricing).
MISTRAL_SMALL_PROFILE = MISTRAL_PROFILE.with_changes(
    name="mistral-small-2506",
    context_window=128_000,
    max_output_tokens=8_192,
    price=ModelPrice(0.10, 0.30, cached_input_per_mtok=0.01),
    supports_vision=True,
    supports_documents=True,
    default_temperature=0.15,
)
"""Mistral Small 3.2 (``mistral-small-2506``): 128K context, 8K output, vision, documents,
tools, native json_schema output, $0.10 / $0.30 per 1M tokens ($0.01 cached), temperature 0.15."""

_MISTRAL_REASONING = MISTRAL_PROFILE.with_changes(
    max_output_tokens=32_768,
    supports_vision=True,
    supports_documents=True,
    reasoning_levels=("none", "high"),
)
"""What Mistral's 2026 reasoning models share: vision, ``reasoning_effort`` ``none`` or
``high``, and a 32K output cap sent by default. Their own output limit is about the whole
context, but a default that large would make every budget's worst case (and the context
window's room for output) the whole window; thinking counts against the cap, and
``ModelSettings(max_tokens=...)`` raises it."""

MISTRAL_SMALL_4_PROFILE = _MISTRAL_REASONING.with_changes(
    name="mistral-small-2603",
    context_window=256_000,
    price=ModelPrice(0.15, 0.60, cached_input_per_mtok=0.015),
)
"""Mistral Small 4 (``mistral-small-2603``, March 2026; ``mistral-small-latest``): 256K
context (the model may write up to all of it; 32K is the default cap sent), vision, tools,
native json_schema output, ``reasoning_effort`` ``none`` or ``high``; $0.15 / $0.60 per 1M
tokens, $0.015 cached. No recommended temperature is published: none is sent."""

MISTRAL_MEDIUM_3_5_PROFILE = _MISTRAL_REASONING.with_changes(
    name="mistral-medium-2604",
    context_window=262_144,
    # Cached price not published where we looked: 10% of input, Mistral's rule.
    price=ModelPrice(1.50, 7.50, cached_input_per_mtok=0.15),
)
"""Mistral Medium 3.5 (``mistral-medium-2604``, April 2026; ``mistral-medium-latest``):
262,144-token context (output up to as much; 32K is the default cap), vision, tools,
``reasoning_effort`` ``none`` or ``high``; $1.50 / $7.50 per 1M tokens, $0.15 cached (10% of
input: Mistral's rule, not a published figure)."""

MISTRAL_LARGE_4_PROFILE = _MISTRAL_REASONING.with_changes(
    name="mistral-large-4",
    # Sources disagree (524,288 and 1,048,576 tokens): the smaller is kept.
    context_window=524_288,
    # List price; during the public preview Mistral bills half ($0.68 / $2.09 / $0.07).
    price=ModelPrice(1.36, 4.18, cached_input_per_mtok=0.136),
)
"""Mistral Large 4 (``mistral-large-4``, public preview): context 524,288 tokens (some
sources say 1,048,576; the smaller is kept), output up to 262,144 (32K is the default cap),
vision, tools, ``reasoning_effort`` ``none`` or ``high``; list price $1.36 / $4.18 per 1M
tokens, $0.136 cached (the preview bills half: register a profile with that price if you
want ``cost_usd`` to match the preview's bill)."""

MISTRAL_VOXTRAL_PROFILE = MISTRAL_PROFILE.with_changes(
    name="voxtral", context_window=32_000, supports_audio=True
)
"""Mistral's Voxtral models (``voxtral-small-latest``, ``voxtral-mini-latest``): audio in
(``input_audio``), 32K context."""

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

_O_SERIES = re.compile(r"(?:^|/)o[1-9]")
"""OpenAI's o-series names (``o3-mini``, ``openai/o4-mini``), not ``ollama`` or ``olmo``."""
_GPT5_MINOR = re.compile(r"gpt-5\.(\d+)")


def _o_series(name: str) -> bool:
    return _O_SERIES.search(name.lower()) is not None


def _gpt5(name: str) -> bool:
    lowered = name.lower()
    return "gpt-5" in lowered and "-chat" not in lowered  # gpt-5-chat-latest does not reason


def _gpt5_minor(minor: int) -> Callable[[str], bool]:
    """A matcher of ``gpt-5.N`` names with ``N >= minor``."""

    def match(name: str) -> bool:
        found = _GPT5_MINOR.search(name.lower())
        return found is not None and int(found.group(1)) >= minor and _gpt5(name)

    return match


_BUILTIN: tuple[tuple[Matcher, ModelProfile], ...] = (
    ("mistral-small-2506", MISTRAL_SMALL_PROFILE),
    ("mistral-small-2603", MISTRAL_SMALL_4_PROFILE),
    ("mistral-small-latest", MISTRAL_SMALL_4_PROFILE),
    ("mistral-small-4", MISTRAL_SMALL_4_PROFILE),
    (
        "mistral-small",
        MISTRAL_PROFILE.with_changes(
            name="mistral-small", supports_vision=True, supports_documents=True
        ),
    ),
    ("mistral-medium-2604", MISTRAL_MEDIUM_3_5_PROFILE),
    ("mistral-medium-3.5", MISTRAL_MEDIUM_3_5_PROFILE),
    ("mistral-medium-3-5", MISTRAL_MEDIUM_3_5_PROFILE),
    ("mistral-medium-latest", MISTRAL_MEDIUM_3_5_PROFILE),
    ("mistral-large-4", MISTRAL_LARGE_4_PROFILE),
    ("mistral-", MISTRAL_PROFILE),
    ("magistral", MISTRAL_PROFILE.with_changes(name="magistral")),
    ("ministral", MISTRAL_PROFILE.with_changes(name="ministral")),
    ("codestral", MISTRAL_PROFILE.with_changes(name="codestral")),
    ("devstral", MISTRAL_PROFILE.with_changes(name="devstral")),
    ("pixtral", MISTRAL_PROFILE.with_changes(name="pixtral", supports_vision=True)),
    ("voxtral", MISTRAL_VOXTRAL_PROFILE),
    (lambda name: "gpt-" in name.lower() and "audio" in name.lower(), OPENAI_AUDIO_PROFILE),
    (_gpt5_minor(2), _GPT5_2_PROFILE),
    (_gpt5_minor(1), _GPT5_1_PROFILE),
    (_gpt5, _GPT5_PROFILE),
    (_o_series, OPENAI_REASONING_PROFILE),
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
    ``"mistral-small-latest"`` is Small 4's (``mistral-small-2603``); OpenAI's ``o*``
    and ``gpt-5*`` get a reasoning profile; unknown names get the generic
    OpenAI-compatible profile.
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
