"""The event schema (schema/finwatch-event.schema.json) as validators: the published one, which
lets later versions add fields as the contract allows, and a strict one for the tests, which
also rejects any field the schema does not name, so every field finwatch writes is documented."""
from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema" / "finwatch-event.schema.json"
EVENT_DEFS = ("close", "alert", "anomaly", "start", "stats", "stop")


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def _close_objects(node, inside_event: bool):
    """unevaluatedProperties: false on every object schema with `properties` (not the shared
    `connection` and `stats` parts, which the event definitions extend)."""
    if isinstance(node, dict):
        if inside_event and "properties" in node and "additionalProperties" not in node:
            node["unevaluatedProperties"] = False
        for key, value in node.items():
            if key != "allOf":
                _close_objects(value, True)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value, inside_event)


@functools.lru_cache(maxsize=2)
def validator(strict: bool = False) -> jsonschema.Draft202012Validator:
    s = schema()
    if strict:
        s = copy.deepcopy(s)
        for name in EVENT_DEFS:
            _close_objects(s["$defs"][name], True)
        # `stop` extends `stats`: stats alone must stay open for stop's `reason`; stop closes both.
        s["$defs"]["stats"].pop("unevaluatedProperties")
        s["$defs"]["stats_only"] = {"allOf": [{"$ref": "#/$defs/stats"}], "unevaluatedProperties": False}
        for branch in s["allOf"]:
            if branch["then"]["$ref"] == "#/$defs/stats":
                branch["then"] = {"$ref": "#/$defs/stats_only"}
    return jsonschema.Draft202012Validator(s)


def errors(line: str, strict: bool = True) -> list[str]:
    event = json.loads(line)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator(strict).iter_errors(event)]
