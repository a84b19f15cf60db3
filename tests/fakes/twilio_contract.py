"""Twilio's published OpenAPI description of its 2010-04-01 API, read to check requests.

The document is ``../shared/reference/specs/twilio/twilio_api_v2010.json`` (MIT). Neither
``openapi-core`` nor the ``jsonschema`` package is installed (``jsonschema_rs`` is, but the
form coercion and the enumerations Twilio states only in prose would still be ours), so
this small validator checks what the fake needs: the path and its parameters' patterns,
the method, each form or query parameter's name, type (integer, boolean, repeated for
arrays), pattern, length and allowed values. Allowed values come from the document's
``enum`` or, where Twilio states them only in prose, from its "Can be: `a`, `b` or `c`"
sentence (``MachineDetection``, ``StatusCallbackEvent``, ``AsyncAmd``, ...). It also
checks an answer against the document's response schema.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SPEC_PATH = (
    Path(__file__).resolve().parents[3] / "shared/reference/specs/twilio/twilio_api_v2010.json"
)


class ContractViolation(Exception):
    """A request Twilio would refuse: its HTTP status, Twilio error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


#: Twilio error codes for the refusals the fake knows a specific code for (Twilio's error
#: dictionary); any other problem with a Calls request is 21200, "Calls Resource".
_PARAM_ERROR_CODE = {"To": 21201, "From": 21213, "MachineDetection": 21234, "Url": 21205}
_PROSE_ENUM = re.compile(r"Can be: ((?:`[^`]+`(?:, and |, or |, | and | or )?)+)")


@dataclass(frozen=True)
class Operation:
    template: str
    method: str
    spec: dict[str, Any]
    path_params: dict[str, str]


class TwilioContract:
    """Twilio's OpenAPI document, read to check the fake's requests and answers."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._paths = [
            (re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(t)) + "$"), t)
            for t in document["paths"]
        ]

    @classmethod
    @functools.cache
    def load(cls) -> TwilioContract:
        return cls(json.loads(SPEC_PATH.read_text()))

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.document
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def operation(self, method: str, path: str) -> Operation:
        for pattern, template in self._paths:
            m = pattern.match(path)
            if m is None:
                continue
            spec = self.document["paths"][template].get(method.lower())
            if spec is None:
                raise ContractViolation(405, 20004, f"Method not allowed: {method} {template}")
            return Operation(template, method.upper(), spec, m.groupdict())
        raise ContractViolation(404, 20404, f"The requested resource {path} was not found")

    def check_request(
        self,
        op: Operation,
        query: dict[str, list[str]],
        form: dict[str, list[str]] | None,
    ) -> None:
        """Raise ``ContractViolation`` for what Twilio would refuse in this request."""
        params = {p["name"]: p for p in op.spec.get("parameters", [])}
        for name, value in op.path_params.items():
            self._check_value(name, params[name]["schema"], [value], params[name])
        query_params = {n: p for n, p in params.items() if p["in"] == "query"}
        for name, values in query.items():
            if name not in query_params:
                raise ContractViolation(400, 20001, f"Unknown query parameter {name}")
            self._check_value(name, query_params[name]["schema"], values, query_params[name])
        body = op.spec.get("requestBody")
        if body is None:
            if form:
                raise ContractViolation(400, 20001, "This request takes no body")
            return
        schema = self.resolve(body["content"]["application/x-www-form-urlencoded"]["schema"])
        form = form or {}
        for name in schema.get("required", []):
            if not form.get(name):
                code = _PARAM_ERROR_CODE.get(name, 21200)
                raise ContractViolation(400, code, f"Required parameter {name} missing.")
        for name, values in form.items():
            prop = schema["properties"].get(name)
            if prop is None:
                raise ContractViolation(400, 21200, f"Unknown parameter {name}")
            self._check_value(name, prop, values, prop)

    def _check_value(
        self, name: str, schema: dict[str, Any], values: list[str], described: dict[str, Any]
    ) -> None:
        schema = self.resolve(schema)
        code = _PARAM_ERROR_CODE.get(name, 21200)
        if schema.get("type") == "array":
            for value in values:
                self._check_value(name, schema.get("items", {}), [value], described)
            return
        if len(values) != 1:
            raise ContractViolation(400, code, f"{name} was given {len(values)} times")
        value = values[0]
        kind = schema.get("type", "string")
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", value):
                raise ContractViolation(400, code, f"{name} must be an integer, not {value!r}")
            return
        if kind == "boolean":
            if value not in ("true", "false"):
                raise ContractViolation(400, code, f"{name} must be true or false")
            return
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise ContractViolation(400, code, f"{name} {value!r} is not {schema['pattern']}")
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 1 << 30):
            raise ContractViolation(400, code, f"{name} has the wrong length")
        allowed = schema.get("enum") or self.prose_enum(described)
        if allowed and value not in allowed:
            raise ContractViolation(
                400, code, f"{name} {value!r} is not one of {', '.join(allowed)}"
            )
        if schema.get("format") == "uri" and not _absolute_url(value):
            raise ContractViolation(400, code, f"{name} {value!r} is not an absolute URL")

    @staticmethod
    def prose_enum(described: dict[str, Any]) -> list[str]:
        """The values a parameter "Can be", where the document says so only in prose."""
        m = _PROSE_ENUM.search(described.get("description", ""))
        return re.findall(r"`([^`]+)`", m.group(1)) if m else []

    def check_response(self, op: Operation, status: int, body: Any) -> list[str]:
        """How an answer of the fake departs from the document's response schema."""
        answer = op.spec["responses"].get(str(status))
        if answer is None:
            return [f"{op.method} {op.template}: the document has no {status} answer"]
        schema = answer["content"]["application/json"]["schema"]
        return self.problems(schema, body, f"{op.method} {op.template} {status}")

    def problems(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        schema = self.resolve(schema)
        if value is None:
            return [] if schema.get("nullable") else [f"{where}: null where it is not nullable"]
        kind = schema.get("type")
        types = {
            "string": str,
            "integer": int,
            "boolean": bool,
            "object": dict,
            "array": list,
            "number": (int, float),
        }
        if kind in types and not isinstance(value, types[kind]):
            return [f"{where}: {type(value).__name__} where the document says {kind}"]
        found: list[str] = []
        if "enum" in schema and value not in schema["enum"]:
            found.append(f"{where}: {value!r} is not one of {schema['enum']}")
        if isinstance(value, str) and not re.search(schema.get("pattern", ""), value):
            found.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    found.append(f"{where}: {name} is missing")
            for name, item in value.items():
                if name in properties:
                    found += self.problems(properties[name], item, f"{where}.{name}")
                elif properties:
                    found.append(f"{where}: {name} is not in the document")
        if isinstance(value, list):
            for i, item in enumerate(value):
                found += self.problems(schema.get("items", {}), item, f"{where}[{i}]")
        return found


def _absolute_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "_" not in parts.netloc
