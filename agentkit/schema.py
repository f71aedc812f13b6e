"""Function signatures and types as JSON schemas, and the validators that go with them.

One step each, all done once, at decoration time:

1. ``inspect.signature`` and the docstring (Google, NumPy or Sphinx style) give the
   parameters, their types and their descriptions;
2. a pydantic model is created from them (``create_model``); it validates the model's
   arguments in one pass, straight from the JSON text;
3. its JSON schema, made lean (no auto-generated ``title`` keys), is what the model sees.

``to_strict`` turns such a schema into the form a server's strict mode accepts (or says
it cannot), and ``format_validation_errors`` writes a pydantic ``ValidationError`` as
short, model-facing text.

This module knows nothing about ``agentkit.tools``: a parameter is a run context when
its annotation's class carries the ``__agentkit_run_context__`` marker attribute.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, WrapValidator
from pydantic import create_model as _create_model
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticUndefined

from agentkit._errors import ToolDefinitionError, UserError

if TYPE_CHECKING:
    import docstring_parser

__all__ = [
    "RUN_CONTEXT_MARKER",
    "FunctionSchema",
    "TypeSchema",
    "escape_raw_controls",
    "format_validation_errors",
    "function_schema",
    "is_run_context",
    "model_json",
    "to_strict",
    "type_schema",
    "validate_model_json",
]

RUN_CONTEXT_MARKER = "__agentkit_run_context__"
"""Class attribute (set to ``True``) that marks the run-context class."""

_SUPPORTED_TYPES_HINT = (
    "use a JSON-compatible type: str, int, float, bool, None, Literal, an Enum, "
    "datetime/date/UUID, a list/tuple/set/dict of those, a pydantic model, a dataclass "
    "or a typing_extensions.TypedDict"
)


class _LeanJsonSchema(GenerateJsonSchema):
    """Pydantic's JSON schema without auto-generated field titles or default warnings."""

    ignored_warning_kinds = {"skipped-choice", "non-serializable-default"}

    def field_title_should_be_set(self, schema: Any) -> bool:
        """Never add a title made from a field's name: it repeats the property key."""
        return False


def is_run_context(annotation: Any) -> bool:
    """Whether ``annotation`` is the run-context class, bare or parametrized."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    origin = get_origin(annotation) or annotation
    return isinstance(origin, type) and getattr(origin, RUN_CONTEXT_MARKER, False) is True


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True, slots=True)
class FunctionSchema:
    """A function's parameters as the model sees them, and their validator.

    ``parameters`` is a JSON schema with an ``object`` root; ``validate_json`` and
    ``validate_python`` return the keyword arguments to call the function with, as typed
    values (nested models as model instances, datetimes as ``datetime``...). Arguments the
    model left out are left out, so the function's own defaults apply; a ``null`` sent for
    a parameter that has a default but does not accept ``None`` means "use the default".
    """

    description: str
    parameters: dict[str, Any]
    takes_ctx: bool
    model: type[BaseModel] = field(repr=False)
    """The pydantic model that validates the arguments (fields are aliased to the names)."""
    names: Mapping[str, str] = field(repr=False)
    """Model field name -> parameter name, in signature order."""
    filled: frozenset[str] = field(default=frozenset(), repr=False)
    """Fields whose default comes from a pydantic ``Field``: passed even when left out."""
    nested_nulls: bool = field(default=False, repr=False)
    """Whether nested objects have defaulted fields, where a ``null`` means the default."""

    def validate_json(self, data: str | bytes) -> dict[str, Any]:
        """Validate JSON arguments (control characters written raw inside strings allowed,
        see ``validate_model_json``); raises ``pydantic.ValidationError``."""
        return validate_model_json(self._validate_json, data)

    def _validate_json(self, data: str | bytes) -> dict[str, Any]:
        if self.nested_nulls and ("null" in data if isinstance(data, str) else b"null" in data):
            try:
                parsed = pydantic_core.from_json(data)
            except ValueError:
                pass  # let the model report the JSON error in its own words
            else:
                return self.validate_python(parsed)
        return self._arguments(self.model.model_validate_json(data))

    def validate_python(self, obj: Any) -> dict[str, Any]:
        """Validate already-parsed arguments; raises ``pydantic.ValidationError``."""
        if self.nested_nulls:
            obj = _drop_null_defaults(obj, self.parameters, self.parameters, 0)
        return self._arguments(self.model.model_validate(obj))

    def _arguments(self, instance: BaseModel) -> dict[str, Any]:
        values = instance.__dict__
        given = instance.__pydantic_fields_set__ | self.filled
        return {param: values[f] for f, param in self.names.items() if f in given}


def _callable_name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


def _type_repr(tp: Any) -> str:
    if isinstance(tp, type) and get_origin(tp) is None and not get_args(tp):
        return tp.__qualname__
    return repr(tp).replace("typing.", "").replace("collections.abc.", "")


def _docstring(fn: Any) -> docstring_parser.Docstring | None:
    doc = inspect.getdoc(fn)
    if not doc:
        return None
    import docstring_parser  # lazily: only needed when tools are defined

    try:
        return docstring_parser.parse(doc)
    except docstring_parser.ParseError:
        return None


def _summary(parsed: docstring_parser.Docstring | None) -> str:
    if parsed is None:
        return ""
    parts = [p.strip() for p in (parsed.short_description, parsed.long_description) if p]
    return "\n\n".join(p for p in parts if p)


def _has_field_description(annotation: Any) -> bool:
    while get_origin(annotation) is Annotated:
        args = get_args(annotation)
        if any(isinstance(m, FieldInfo) and m.description for m in args[1:]):
            return True
        annotation = args[0]
    return False


def _accepts_none(tp: Any) -> bool:
    if get_origin(tp) is Annotated:
        return _accepts_none(get_args(tp)[0])
    if tp is None or tp is type(None) or tp is Any or tp is object:
        return True
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return any(_accepts_none(a) for a in get_args(tp))
    if origin is Literal:
        return None in get_args(tp)
    return False


def _none_means_default(default: Any) -> WrapValidator:
    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        return default if value is None else handler(value)

    return WrapValidator(validate)


def _none_means_factory(factory: Callable[[], Any]) -> WrapValidator:
    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        return factory() if value is None else handler(value)

    return WrapValidator(validate)


def _field_default(annotation: Any) -> Callable[[], Any] | None:
    """The default a pydantic ``Field`` in ``Annotated`` metadata gives, as a factory."""
    if get_origin(annotation) is not Annotated:
        return None
    for meta in reversed(get_args(annotation)[1:]):
        if isinstance(meta, FieldInfo):
            if meta.default_factory is not None:
                factory: Callable[[], Any] = meta.default_factory  # type: ignore[assignment]
                return factory
            if meta.default is not PydanticUndefined:
                value = meta.default
                return lambda: value
    return None


def _signature(fn: Any, fn_name: str) -> inspect.Signature:
    if not callable(fn):
        raise ToolDefinitionError(
            f"{fn!r} is not callable; a tool must be a function (def or async def)"
        )
    try:
        return inspect.signature(fn, eval_str=True)
    except NameError as e:
        # String annotations naming a type local to the function that made the tool
        # (common in tests): resolve them in that caller's namespace.
        caller = _caller_locals()
        if caller is not None:
            try:
                return inspect.signature(fn, eval_str=True, locals=caller)
            except NameError:
                pass
        raise ToolDefinitionError(
            f"cannot resolve the type annotations of tool function {fn_name!r}: {e}. "
            "Import the names used in its annotations at module level (not only under "
            "TYPE_CHECKING) and define the types it uses outside the function body"
        ) from e
    except (TypeError, ValueError) as e:
        raise ToolDefinitionError(
            f"cannot read the signature of {fn_name!r} ({e}); wrap it in a Python function "
            "with annotated parameters"
        ) from e


def _caller_locals() -> dict[str, Any] | None:
    """The local namespace of the nearest frame outside agentkit."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != "agentkit" and not module.startswith("agentkit."):
            return dict(frame.f_locals)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def function_schema(
    fn: Callable[..., Any], *, name: str, description: str | None = None
) -> FunctionSchema:
    """Build the JSON schema and validator of ``fn``'s parameters.

    ``name`` is the tool's name (used to name the model); ``description`` overrides the
    docstring's summary. A first parameter annotated with the run-context class is not
    part of the schema (``takes_ctx``). Raises ``ToolDefinitionError`` naming the function
    and parameter when the function cannot be a tool.
    """
    fn_name = _callable_name(fn)
    sig = _signature(fn, fn_name)
    parsed = _docstring(fn)
    param_docs = (
        {p.arg_name: p.description for p in parsed.params if p.description} if parsed else {}
    )

    takes_ctx = False
    filled: set[str] = set()
    fields: dict[str, Any] = {}
    names: dict[str, str] = {}
    annotations: dict[str, Any] = {}
    for index, param in enumerate(sig.parameters.values()):
        pname = param.name
        where = f"parameter {pname!r} of tool function {fn_name!r}"
        annotation = param.annotation
        if index == 0 and annotation is not inspect.Parameter.empty and is_run_context(annotation):
            takes_ctx = True
            continue
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise ToolDefinitionError(
                f"{where} is *{pname}; tools take named parameters only. Replace it with a "
                f"list parameter, e.g. `{pname}: list[str]`"
            )
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            raise ToolDefinitionError(
                f"{where} is **{pname}; tools take named parameters only. Declare each "
                f"argument as its own annotated parameter, or use `{pname}: dict[str, str]`"
            )
        if annotation is inspect.Parameter.empty:
            hint = (
                f"annotate it as `{pname}: RunContext[YourDeps]` if it is the run context, "
                "or with its type"
                if index == 0 and pname in ("ctx", "context", "run_context")
                else f"annotate it (e.g. `{pname}: str`) so the model knows what to send"
            )
            raise ToolDefinitionError(f"{where} has no type annotation; {hint}")
        if is_run_context(annotation):
            raise ToolDefinitionError(
                f"{where} is annotated RunContext but is not the first parameter; "
                "make the run context the first parameter"
            )
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise ToolDefinitionError(
                f"{where} is positional-only; tools are called with keyword arguments. "
                "Remove the '/' from the signature"
            )
        fname = f"p{index}"
        default = param.default
        if isinstance(default, FieldInfo):  # ``n: int = Field(5, ge=1)``
            annotation = Annotated[annotation, default]
            default = inspect.Parameter.empty
        doc = param_docs.get(pname)
        kwargs: dict[str, Any] = {"alias": pname}
        if doc and not _has_field_description(annotation):
            kwargs["description"] = doc
        if default is not inspect.Parameter.empty:
            kwargs["default"] = default
            if not _accepts_none(annotation):
                annotation = Annotated[annotation, _none_means_default(default)]
        else:
            factory = _field_default(annotation)
            if factory is not None:  # the function has no default: pass the Field's
                filled.add(fname)
                if not _accepts_none(annotation):
                    annotation = Annotated[annotation, _none_means_factory(factory)]
        fields[fname] = (annotation, Field(**kwargs))
        names[fname] = pname
        annotations[pname] = annotation

    model = _build_model(name, fn_name, fields, annotations)
    try:
        parameters = model.model_json_schema(schema_generator=_LeanJsonSchema)
    except Exception as e:
        raise _unsupported(fn_name, annotations, e) from e
    parameters = _lean(parameters)
    parameters.setdefault("properties", {})
    parameters.setdefault("required", [])
    return FunctionSchema(
        description=_summary(parsed) if description is None else description,
        parameters=parameters,
        takes_ctx=takes_ctx,
        model=model,
        names=names,
        filled=frozenset(filled),
        nested_nulls=_has_nested_defaults(parameters, parameters, 0, set()),
    )


def _build_model(
    name: str, fn_name: str, fields: dict[str, Any], annotations: dict[str, Any]
) -> type[BaseModel]:
    model_name = re.sub(r"\W", "_", name) or "tool"
    try:
        model: type[BaseModel] = _create_model(
            f"{model_name}_arguments",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
    except Exception as e:
        raise _unsupported(fn_name, annotations, e) from e
    return model


def _unsupported(
    fn_name: str, annotations: dict[str, Any], error: Exception
) -> ToolDefinitionError:
    """Find which parameter pydantic could not describe, and say what to do."""
    for pname, annotation in annotations.items():
        try:
            TypeAdapter(annotation).json_schema(schema_generator=_LeanJsonSchema)
        except Exception as e:
            return ToolDefinitionError(
                f"parameter {pname!r} of tool function {fn_name!r} has type "
                f"{_type_repr(annotation)}, which cannot be described as JSON schema "
                f"({_first_line(e)}); {_SUPPORTED_TYPES_HINT}"
            )
    return ToolDefinitionError(
        f"tool function {fn_name!r} cannot be described as JSON schema "
        f"({_first_line(error)}); {_SUPPORTED_TYPES_HINT}"
    )


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# --------------------------------------------------------------------------- nested nulls


def _defaulted(node: Mapping[str, Any], name: str, root: Mapping[str, Any]) -> bool:
    """Whether property ``name`` of object ``node`` may be left out and refuses ``null``."""
    if name in node.get("required", ()):
        return False
    prop = node.get("properties", {}).get(name)
    return isinstance(prop, Mapping) and not _nullable(_resolve(dict(prop), dict(root)))


def _children(node: Mapping[str, Any]) -> list[Any]:
    subs: list[Any] = list(node.get("properties", {}).values())
    if isinstance(node.get("items"), Mapping):
        subs.append(node["items"])
    for key in ("anyOf", "oneOf", "allOf"):
        subs.extend(node.get(key) or ())
    return subs


def _has_nested_defaults(node: Any, root: Mapping[str, Any], depth: int, seen: set[str]) -> bool:
    """Whether an object below the root has a defaulted property (strict mode sends null)."""
    if not isinstance(node, Mapping) or depth > 32:
        return False
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return False
        seen.add(ref)
        node = _resolve(dict(node), dict(root))
    if depth > 0 and any(_defaulted(node, name, root) for name in node.get("properties", {})):
        return True
    return any(_has_nested_defaults(sub, root, depth + 1, seen) for sub in _children(node))


def _drop_null_defaults(data: Any, node: Any, root: Mapping[str, Any], depth: int) -> Any:
    """``data`` without the nulls sent for defaulted properties (OpenAI strict mode's "unset")."""
    if not isinstance(node, Mapping) or depth > 32:
        return data
    node = _resolve(dict(node), dict(root))
    branches = [b for b in node.get("anyOf") or () if isinstance(b, Mapping) and b != _NULL]
    if len(branches) == 1:
        return _drop_null_defaults(data, branches[0], root, depth + 1)
    if isinstance(data, dict):
        properties = node.get("properties")
        if not isinstance(properties, Mapping):
            return data
        out = {}
        for key, value in data.items():
            if value is None and key in properties and _defaulted(node, key, root):
                continue
            out[key] = _drop_null_defaults(value, properties.get(key), root, depth + 1)
        return out
    if isinstance(data, list) and isinstance(node.get("items"), Mapping):
        return [_drop_null_defaults(v, node["items"], root, depth + 1) for v in data]
    return data


_NULL = {"type": "null"}


# --------------------------------------------------------------------------- lean schemas


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def _lean(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop titles that say nothing: the root's, and a definition's equal to its key."""
    schema.pop("title", None)
    for key, definition in schema.get("$defs", {}).items():
        title = definition.get("title")
        if isinstance(title, str) and (key == title or key.endswith(f"__{title}")):
            del definition["title"]
    return schema


# --------------------------------------------------------------------------- model-written JSON
# A small model, or a server whose grammar lets it (llama-cpp-python's), writes a newline or
# tab inside a JSON string raw. The text is otherwise whole, so JSON a model wrote is read as
# json.loads(strict=False) does, only after a strict parse refused a control character. What
# agentkit wrote and a server's own JSON stay strict; what agentkit sends is escaped.

T = TypeVar("T")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)', re.DOTALL)  # or one the text ends in
_CONTROL = re.compile(r"[\x00-\x1f]")
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _escape(string: re.Match[str]) -> str:
    return _CONTROL.sub(lambda c: _ESCAPES.get(c[0]) or f"\\u{ord(c[0]):04x}", string[0])


def escape_raw_controls(data: str | bytes) -> str | None:
    """``data`` with the control characters written raw inside its JSON strings escaped
    (a newline as ``\\n``; between values they are whitespace, kept), or ``None`` when
    there are none (or it is not UTF-8)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    escaped = _JSON_STRING.sub(_escape, data)
    return None if escaped == data else escaped


def validate_model_json(validate: Callable[[str | bytes], T], data: str | bytes) -> T:
    """``validate(data)`` (a pydantic ``validate_json``, or ``from_json``); when it refuses
    only control characters written raw inside strings, ``validate`` of the escaped text."""
    try:
        return validate(data)
    except ValueError as exc:  # pydantic's ValidationError is one
        escaped = escape_raw_controls(data) if "control character" in str(exc) else None
        if escaped is None:
            raise
    return validate(escaped)


def model_json(data: str | bytes) -> Any:
    """``pydantic_core.from_json(data)``, control characters inside strings allowed."""
    return validate_model_json(pydantic_core.from_json, data)


# --------------------------------------------------------------------------- output types


@dataclass(frozen=True, slots=True)
class TypeSchema:
    """The JSON schema of an output type and the adapter that validates into it."""

    type: Any
    name: str
    """A name for the schema matching ``^[a-zA-Z0-9_-]{1,64}$`` (the class name, or ``output``)."""
    json_schema: dict[str, Any]
    adapter: TypeAdapter[Any] = field(repr=False)
    is_object: bool = False
    """Whether the schema root is an ``object`` (else it needs wrapping for tools/strict)."""

    def validate_json(self, data: str | bytes) -> Any:
        """Validate JSON text into the type; raises ``pydantic.ValidationError``."""
        return self.adapter.validate_json(data)

    def validate_python(self, obj: Any) -> Any:
        """Validate Python data into the type; raises ``pydantic.ValidationError``."""
        return self.adapter.validate_python(obj)


_TYPE_SCHEMAS: dict[Any, TypeSchema] = {}


def type_schema(tp: Any) -> TypeSchema:
    """The JSON schema of any output type (model, dataclass, TypedDict, scalar, list, union).

    Cached per type. Raises ``UserError`` when pydantic cannot describe the type.
    """
    try:
        cached = _TYPE_SCHEMAS.get(tp)
    except TypeError:  # unhashable annotation metadata
        cached = None
    if cached is not None:
        return cached
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(tp)
        schema = adapter.json_schema(schema_generator=_LeanJsonSchema)
    except Exception as e:
        raise UserError(
            f"output type {_type_repr(tp)} cannot be described as JSON schema "
            f"({_first_line(e)}); {_SUPPORTED_TYPES_HINT}"
        ) from e
    schema = _lean(schema)
    root = _resolve(schema, schema)
    raw_name = tp.__name__ if isinstance(tp, type) else "output"
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", raw_name)[:64] or "output"
    result = TypeSchema(
        type=tp,
        name=name,
        json_schema=schema,
        adapter=adapter,
        is_object=root.get("type") == "object",
    )
    try:
        _TYPE_SCHEMAS[tp] = result
    except TypeError:
        pass
    return result


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/X``) to its definition, once."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
        if isinstance(target, dict):
            return target
    return node


# --------------------------------------------------------------------------- strict mode


class _NotStrict(Exception):
    """The schema cannot be expressed in this strict style."""


_OPENAI_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "anyOf",
        "enum",
        "const",
        "description",
        "title",
        "$ref",
        "$defs",
        "definitions",
        "pattern",
        "format",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "minItems",
        "maxItems",
    }
)
_OPENAI_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
_OPENAI_TYPED = ("type", "anyOf", "oneOf", "allOf", "$ref", "enum", "const")
_OPENAI_IMPOSSIBLE = ("prefixItems", "not", "if", "then", "else", "patternProperties")

_STRICT_CACHE: dict[tuple[int, str], tuple[Mapping[str, Any], dict[str, Any] | None]] = {}
_STRICT_CACHE_MAX = 512


def to_strict(
    schema: Mapping[str, Any], style: Literal["openai", "mistral"]
) -> dict[str, Any] | None:
    """A copy of ``schema`` transformed for a server's strict mode, or ``None`` if impossible.

    ``openai``: every object gets ``additionalProperties: false`` and lists every property
    as required (optional ones become nullable); keywords strict mode rejects are dropped
    (the validator still enforces them); free-form dicts, fixed-length tuples and a
    non-object root cannot be strict (``None``).
    ``mistral``: objects with properties get ``additionalProperties: false``; nothing else
    changes (dicts are fine, optional properties stay optional).

    Results are cached by the identity of ``schema``: treat them as read-only.
    """
    key = (id(schema), style)
    hit = _STRICT_CACHE.get(key)
    if hit is not None and hit[0] is schema:
        return hit[1]
    result: dict[str, Any] | None
    try:
        if style == "openai":
            result = _openai_root(schema)
        elif style == "mistral":
            result = _mistral(schema)
        else:
            raise ValueError(f"unknown strict style {style!r}; use 'openai' or 'mistral'")
    except _NotStrict:
        result = None
    if len(_STRICT_CACHE) >= _STRICT_CACHE_MAX:
        _STRICT_CACHE.clear()
    _STRICT_CACHE[key] = (schema, result)
    return result


def _mistral(node: Any) -> Any:
    if isinstance(node, list):
        return [_mistral(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {k: _mistral(v) for k, v in value.items()}
        elif key in _SCHEMA_LISTS or key in _SCHEMA_ONE:
            out[key] = _mistral(value)
        else:
            out[key] = value
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _openai_root(schema: Mapping[str, Any]) -> dict[str, Any]:
    root = dict(schema)
    if "$ref" in root:  # recursive model at the root: inline the referenced definition
        target = _resolve(root, root)
        del root["$ref"]
        root = {**target, **root}
    if root.get("type") != "object":
        raise _NotStrict
    result: dict[str, Any] = _openai(root, schema, 0)
    return result


def _openai(node: Any, root: Mapping[str, Any], depth: int) -> Any:
    if depth > 64:
        raise _NotStrict
    if isinstance(node, bool) or not isinstance(node, Mapping):
        raise _NotStrict
    if "$ref" in node and len(node) > 1 and set(node) - {"$ref", "description"}:
        # a $ref with sibling keywords: inline the definition under the siblings
        target = _resolve(dict(node), dict(root))
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    if any(k in node for k in _OPENAI_IMPOSSIBLE):
        raise _NotStrict
    if not any(k in node for k in _OPENAI_TYPED):
        raise _NotStrict  # "anything" (``Any``) has no strict form
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "oneOf":
            key = "anyOf"
        elif key == "allOf":
            if not isinstance(value, list) or len(value) != 1:
                raise _NotStrict
            merged = {**value[0], **{k: v for k, v in node.items() if k != "allOf"}}
            return _openai(merged, root, depth + 1)
        if key not in _OPENAI_KEYWORDS and key != "anyOf":
            continue
        if key in ("properties", "$defs", "definitions"):
            out[key] = {k: _openai(v, root, depth + 1) for k, v in value.items()}
        elif key == "anyOf":
            out[key] = [_openai(v, root, depth + 1) for v in value]
        elif key == "items":
            out[key] = _openai(value, root, depth + 1)
        elif key == "const":
            out["enum"] = [value]
        elif key == "format":
            if value in _OPENAI_FORMATS:
                out[key] = value
        else:
            out[key] = value
    types_ = out.get("type")
    is_object = types_ == "object" or (isinstance(types_, list) and "object" in types_)
    if is_object or "properties" in out:
        additional = out.get("additionalProperties", False)
        if additional is not False or "properties" not in out:
            raise _NotStrict  # a free-form dict: its keys cannot be listed
        properties: dict[str, Any] = out["properties"]
        required = set(out.get("required", ()))
        for pname, prop in properties.items():
            if pname not in required and not _nullable(prop):
                properties[pname] = _make_nullable(prop)
        out["required"] = list(properties)
        out["additionalProperties"] = False
    return out


def _nullable(prop: Mapping[str, Any]) -> bool:
    t = prop.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t):
        return True
    if None in prop.get("enum", ()):
        return True
    return any(isinstance(s, Mapping) and _nullable(s) for s in prop.get("anyOf", ()))


def _make_nullable(prop: dict[str, Any]) -> dict[str, Any]:
    inner = {k: v for k, v in prop.items() if k not in ("description", "title")}
    outer: dict[str, Any] = {k: prop[k] for k in ("description", "title") if k in prop}
    if "anyOf" in inner and len(inner) == 1:
        outer["anyOf"] = [*inner["anyOf"], {"type": "null"}]
    else:
        outer["anyOf"] = [inner, {"type": "null"}]
    return outer


# --------------------------------------------------------------------------- errors

_MAX_ERRORS = 20


def format_validation_errors(err: ValidationError) -> str:
    """Write a validation error for the model: one ``- path: message (got value)`` per line."""
    lines: list[str] = []
    errors = err.errors(include_url=False, include_context=False)
    for e in errors[:_MAX_ERRORS]:
        loc = ".".join(str(part) for part in e["loc"]) or "(arguments)"
        line = f"- {loc}: {e['msg']}"
        if e["type"] != "missing" and "input" in e:
            line += f" (got {_short_repr(e['input'])})"
        lines.append(line)
    if len(errors) > _MAX_ERRORS:
        lines.append(f"- ... and {len(errors) - _MAX_ERRORS} more errors")
    return "\n".join(lines)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
