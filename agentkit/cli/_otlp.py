"""OTLP export for the ``agentkit`` command: traces go out when the environment says where.

``from_environment()`` is a context manager giving the hooks for the command's runs: a
``Tracing`` on a tracer provider of the command's own (never the global one), exporting
over OTLP/HTTP, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; nothing otherwise. The exporter reads
the standard ``OTEL_EXPORTER_OTLP_*`` variables itself (endpoint, headers, timeout). The
provider is shut down (its last spans sent) when the block ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from agentkit.hooks import Hooks

__all__ = ["ENDPOINT_VARIABLES", "from_environment"]

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Either of these set turns OTLP export on."""


@contextmanager
def from_environment() -> Iterator[list[Hooks]]:
    """The hooks that export this command's traces over OTLP, or none (module docs)."""
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        yield []
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from agentkit.tracing import Tracing
    except ImportError as exc:
        print(
            f"agentkit: OTEL_EXPORTER_OTLP_ENDPOINT is set, but OTLP export needs packages "
            f"that are not installed ({exc.name}): pip install -e '.[otlp]' in the "
            "agentkit clone. "
            "Running without traces.",
            file=sys.stderr,
        )
        yield []
        return
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {"service.name": "agentkit"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    try:
        yield [Tracing(provider)]
    finally:
        provider.shutdown()
