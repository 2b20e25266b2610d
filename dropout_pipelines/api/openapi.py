"""The OpenAPI 3.1 description of the read API, generated from the route table and the
pydantic shapes (so it always says what the code does)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dropout_pipelines.api.shapes import ErrorBody

REF_TEMPLATE = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{(?P<name>\w+)(?::(?P<kind>\w+))?\}")
ERROR_STATUSES = {
    400: "Bad request (the message says which parameter)",
    401: "Missing or wrong bearer token",
    404: "Unknown course or student",
    409: "Cannot be done in the warehouse's current state (e.g. no model registered)",
    422: "Invalid query or body",
    502: "Dagster could not start the run",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _path_parameters(path: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for match in _PARAM.finditer(path):
        kind = {"type": "integer"} if match["kind"] == "int" else {"type": "string"}
        parameters.append({"name": match["name"], "in": "path", "required": True, "schema": kind})
    return _PARAM.sub(lambda match: "{" + match["name"] + "}", path), parameters


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {key: value for key, value in prop.items() if key != "title"},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema["properties"].items()
    ]


def openapi_document(endpoints: list, title: str, version: str) -> dict[str, Any]:
    """`endpoints`: the app's route table (`app.Endpoint`)."""
    models: set[type[BaseModel]] = {ErrorBody}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        models.add(endpoint.response)
        path, parameters = _path_parameters(endpoint.path)
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "operationId": endpoint.name,
            "parameters": parameters + _query_parameters(endpoint.query),
            "security": [{"bearer": []}],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": _ref(endpoint.response)}},
                },
                **{
                    str(status): {
                        "description": ERROR_STATUSES[status],
                        "content": {"application/json": {"schema": _ref(ErrorBody)}},
                    }
                    for status in endpoint.errors
                },
            },
        }
        if endpoint.body is not None:
            models.add(endpoint.body)
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(endpoint.body)}},
            }
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    _, definitions = models_json_schema(
        [(model, "serialization") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template=REF_TEMPLATE,
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
