"""The API reference page's content, read from the OpenAPI document (``web.openapi``).

What it does: :func:`reference` turns the OpenAPI 3.1 document into plain
values a template lists: one :class:`Group` per tag, in the document's tag
order, each with its operations (path, method, summary, parameters,
responses) in the document's path order. :func:`type_of` words a JSON Schema
as a short type ("integer", "array of Event", "one of asc, desc").

What it does not do: no Flask, no markup, no escaping (the template does
both); it shows what the document says and adds nothing of its own, so the
page cannot drift from ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
MAX_CHOICES = 6  # a longer enum is shown as its first few values and a count


@dataclass(frozen=True)
class Parameter:
    """One parameter of an operation."""

    name: str
    where: str  # "path" | "query" | "header"
    required: bool
    type: str
    description: str


@dataclass(frozen=True)
class Answer:
    """One documented response: its status, description and media types (each with its schema's type)."""

    status: str
    description: str
    media_types: tuple[tuple[str, str], ...]  # (media type, schema type)


@dataclass(frozen=True)
class Operation:
    """One method on one path."""

    method: str
    path: str
    summary: str
    description: str
    parameters: tuple[Parameter, ...]
    body: tuple[tuple[str, str], ...]  # the request body's (media type, schema type)
    responses: tuple[Answer, ...]

    @property
    def anchor(self) -> str:
        """A fragment id unique per operation, made of the path's ASCII letters and digits."""
        slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in self.path).strip("-")
        return f"{self.method.lower()}-{slug or 'root'}"


@dataclass(frozen=True)
class Group:
    """The operations of one tag."""

    name: str
    description: str
    operations: tuple[Operation, ...]


def reference(document: Mapping[str, Any]) -> list[Group]:
    """The document's operations grouped by their first tag (untagged ones last, as "other")."""
    tags = [(t["name"], t.get("description", "")) for t in document.get("tags", [])]
    found: dict[str, list[Operation]] = {name: [] for name, _ in tags}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                spec = item[method]
                tag = (spec.get("tags") or ["other"])[0]
                found.setdefault(tag, []).append(_operation(path, method, spec))
    described = dict(tags)
    return [Group(name, described.get(name, ""), tuple(ops)) for name, ops in found.items() if ops]


def type_of(schema: Mapping[str, Any] | None) -> str:
    """A JSON Schema as a few words: its type, its component's name, or its choices."""
    if not schema:
        return "any"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "const" in schema:
        return f"the value {schema['const']}"
    if "enum" in schema:
        values = [str(v) for v in schema["enum"]]
        shown = ", ".join(values[:MAX_CHOICES])
        return f"one of {shown}" + (f" and {len(values) - MAX_CHOICES} more" if len(values) > MAX_CHOICES else "")
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            joiner = " and " if key == "allOf" else " or "
            return joiner.join(type_of(s) for s in schema[key])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {type_of(schema.get('items'))}"
    if isinstance(kind, str):
        details = [f"format {schema['format']}"] if "format" in schema else []
        if "pattern" in schema:
            details.append(f"pattern {schema['pattern']}")
        if "minimum" in schema or "maximum" in schema:
            details.append(f"{schema.get('minimum', '…')} to {schema.get('maximum', '…')}")
        if "default" in schema:
            details.append(f"default {schema['default']}")
        return f"{kind} ({', '.join(details)})" if details else kind
    return "any"


def _operation(path: str, method: str, spec: Mapping[str, Any]) -> Operation:
    parameters = tuple(
        Parameter(p["name"], p["in"], bool(p.get("required")), type_of(p.get("schema")), p.get("description", ""))
        for p in spec.get("parameters", []))
    body = _media_types(spec.get("requestBody", {}).get("content", {}))
    responses = tuple(Answer(status, r.get("description", ""), _media_types(r.get("content", {})))
                      for status, r in spec.get("responses", {}).items())
    return Operation(method.upper(), path, spec.get("summary", ""), spec.get("description", ""), parameters, body,
                     responses)


def _media_types(content: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((media_type, type_of(spec.get("schema"))) for media_type, spec in content.items())
