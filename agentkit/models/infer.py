"""Model strings: ``"provider:model"`` to a ready ``Model``.

- ``"opper:mistral/mistral-small-2506"``: ``https://api.opper.ai/v3/compat``, key in
  ``OPPER_API_KEY``;
- ``"mistral:mistral-small-2506"``: ``https://api.mistral.ai/v1``, key in ``MISTRAL_API_KEY``;
- ``"openai:gpt-4o-mini"``: ``OPENAI_BASE_URL`` or OpenAI's, key in ``OPENAI_API_KEY``;
- ``None``: Mistral Small 3.2 through whichever of ``OPPER_API_KEY`` and
  ``MISTRAL_API_KEY`` is set.

A bare name picks the route from its family (``"mistral-small-2506"`` goes to Mistral
or Opper, ``"gpt-4o"`` to OpenAI). The profile always follows the model's family,
whatever the route: Mistral behind Opper speaks the Mistral dialect. A string that
names no route is a ``ConfigurationError`` as soon as the agent is built
(``check_model_string``); a missing key is one naming the variable, at the first request
(the ``agentkit`` command checks it when it starts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agentkit._errors import ConfigurationError, MissingAPIKeyError
from agentkit.models.base import Model
from agentkit.models.profiles import profile_for

__all__ = ["DEFAULT_MODEL", "PROVIDERS", "Provider", "check_model_string", "infer_model"]

DEFAULT_MODEL = "mistral-small-2506"
"""The model used when none is given: Mistral Small 3.2."""


@dataclass(frozen=True, slots=True)
class Provider:
    """An OpenAI-compatible route: its base URL and the variable holding its key."""

    name: str
    base_url: str | None
    api_key_env: str
    model_prefix: str = ""
    """Prepended to bare Mistral names on this route (Opper: ``mistral/``)."""


PROVIDERS: dict[str, Provider] = {
    "opper": Provider("opper", "https://api.opper.ai/v3/compat", "OPPER_API_KEY", "mistral/"),
    "mistral": Provider("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "openai": Provider("openai", None, "OPENAI_API_KEY"),
}
"""Known ``provider:`` prefixes."""

_MISTRAL_FAMILY = ("mistral", "magistral", "ministral", "codestral", "devstral", "pixtral")


def _model(provider: Provider, name: str) -> Model:
    from agentkit.models.openai import OpenAIChatModel

    return OpenAIChatModel(
        name,
        base_url=provider.base_url,
        api_key_env=provider.api_key_env,
        profile=profile_for(name),
    )


def _mistral_route(name: str) -> Model:
    """Mistral-family ``name`` through Opper or Mistral, whichever key is set."""
    if os.environ.get("OPPER_API_KEY"):
        opper = PROVIDERS["opper"]
        return _model(opper, name if "/" in name else opper.model_prefix + name)
    if os.environ.get("MISTRAL_API_KEY"):
        return _model(PROVIDERS["mistral"], name.split("/", 1)[-1])
    raise MissingAPIKeyError(
        f"No API key for {name}: set OPPER_API_KEY (Opper gateway, "
        "https://api.opper.ai/v3/compat) or MISTRAL_API_KEY (Mistral's API), "
        "or pass a model such as 'openai:gpt-4o-mini' or an OpenAIChatModel.",
        model_name=name,
        variables=("MISTRAL_API_KEY", "OPPER_API_KEY"),
    )


def _route(model: str) -> tuple[Provider | None, str]:
    """Where a model string goes: ``(provider, name)``, or ``(None, name)`` for a bare
    Mistral-family name (Opper or Mistral, whichever key is set)."""
    prefix, sep, name = model.partition(":")
    if sep:
        provider = PROVIDERS.get(prefix.lower())
        if provider is None:
            known = ", ".join(f"'{p}:'" for p in PROVIDERS)
            raise ConfigurationError(
                f"Unknown provider {prefix!r} in model string {model!r}: use one of {known}, "
                "or pass an OpenAIChatModel(base_url=...) for another OpenAI-compatible server."
            )
        if not name:
            raise ConfigurationError(
                f"Model string {model!r} names no model: write it as '{prefix}:<model name>'."
            )
        return provider, name
    lowered = model.lower()
    if any(family in lowered for family in _MISTRAL_FAMILY):
        return None, model
    if lowered.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return PROVIDERS["openai"], model
    raise ConfigurationError(
        f"Cannot tell where to send model {model!r}: write it as 'provider:model' "
        "('opper:mistral/mistral-small-2506', 'mistral:mistral-small-2506', 'openai:gpt-4o-mini'), "
        "or pass an OpenAIChatModel(base_url=...)."
    )


def check_model_string(model: str) -> None:
    """Raise ``ConfigurationError`` now for a model string that names no route (an unknown
    ``provider:``, no model name, a bare name of no known family). Keys are not checked:
    they may be set later, before the first run."""
    _route(model)


def infer_model(model: Model | str | None) -> Model:
    """A ``Model`` from a model instance (returned as is), a model string, or ``None``."""
    if model is None:
        return _mistral_route(DEFAULT_MODEL)
    if not isinstance(model, str):
        return model
    provider, name = _route(model)
    return _mistral_route(name) if provider is None else _model(provider, name)
