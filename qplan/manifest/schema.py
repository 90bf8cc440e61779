"""The published JSON Schema of manifests, generated from the models.

Values in a manifest may be templates, so wherever the models want a number, a boolean
or a list, the schema also accepts a string holding ``{{ ... }}``: editors then check
literal values and leave templated ones alone.
"""

from __future__ import annotations

import json
from typing import Any

from qplan.manifest.models import Manifest

__all__ = ["SCHEMA_ID", "manifest_json_schema", "manifest_json_schema_text"]

SCHEMA_ID = "urn:qplan:schema:manifest:v1"
_TEMPLATE = {
    "type": "string",
    "pattern": r"\{\{.*\}\}|\{%.*%\}",
    "description": "A Jinja2 template",
}
_WRAPPED = ("integer", "number", "boolean", "array")
_CONSTRAINED = ("pattern", "enum", "const")


def _allow_templates(schema: Any, *, inside_value: bool) -> Any:
    if isinstance(schema, list):
        return [_allow_templates(s, inside_value=inside_value) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {
                k: _allow_templates(v, inside_value=key != "$defs") for k, v in value.items()
            }
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "prefixItems"):
            out[key] = _allow_templates(value, inside_value=True)
        else:
            out[key] = value
    constrained = out.get("type") in _WRAPPED or any(k in out for k in _CONSTRAINED)
    if inside_value and constrained and not _accepts_template(out):
        return {"anyOf": [out, {"$ref": "#/$defs/Template"}]}
    return out


def _accepts_template(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [])
    return any(isinstance(o, dict) and o.get("$ref") == "#/$defs/Template" for o in options)


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a qplan manifest."""
    schema = Manifest.model_json_schema(mode="validation")
    schema = _allow_templates(schema, inside_value=False)
    schema.setdefault("$defs", {})["Template"] = _TEMPLATE
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def manifest_json_schema_text() -> str:
    return json.dumps(manifest_json_schema(), indent=2, sort_keys=False) + "\n"
