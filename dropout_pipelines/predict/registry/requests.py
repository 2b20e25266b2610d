"""What a registry change asks for, declared once (pydantic).

The Python API (`registry.py`) validates its arguments through these models; the Dagster
registry jobs' run config *is* these models (`class MapCourseConfig(MapCourseRequest,
Config)`), and the CLI takes its choices and help texts from them. A rule changed here
changes for all three callers at once.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from dropout_pipelines.predict.model_store import (
    MAX_NAME_LENGTH,
    MAX_VERSION_LENGTH,
    ModelStoreError,
    check_name,
)
from dropout_pipelines.warehouse import schema as s

Frequency = Literal["hourly", "daily", "weekly", "manual"]
assert get_args(Frequency) == s.PREDICT_FREQUENCIES, "the schema's CHECK and the requests agree"
FREQUENCIES: tuple[str, ...] = get_args(Frequency)


def _name_rule(what: str, max_length: int):  # noqa: ANN202 - a pydantic validator
    def valid(value: str) -> str:
        try:
            return check_name(value, what, max_length)
        except ModelStoreError as error:
            raise ValueError(str(error)) from error

    return AfterValidator(valid)


def _json_object(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"metrics must be JSON (no NaN/inf): {error}") from error
    return value


ModelName = Annotated[str, _name_rule("model name", MAX_NAME_LENGTH)]
ModelVersion = Annotated[str, _name_rule("model version", MAX_VERSION_LENGTH)]
Semester = Annotated[str, Field(min_length=1, max_length=64)]


class RegistryRequest(BaseModel):
    """Base of the requests: `model_*` field names are the registry's own, not pydantic's."""

    model_config = ConfigDict(protected_namespaces=(), extra="forbid")


class ModelVersionRequest(RegistryRequest):
    model_name: ModelName = Field(description="Model name (letters, digits, . _ -).")
    model_version: ModelVersion = Field(description="Model version.")


class DeactivateModelRequest(ModelVersionRequest):
    force: bool = Field(
        default=False, description="Also deactivate the default model (leaves no default)."
    )


class RegisterModelRequest(ModelVersionRequest):
    model_path: str | None = Field(
        default=None, description="The .cbm file; empty = the model store's NAME/VERSION."
    )
    features_csv_path: str | None = Field(
        default=None, description="Ordered feature list; empty = features.csv next to the model."
    )
    model_type: str = Field(default="fail", min_length=1, max_length=32)
    domain: str | None = Field(default=None, min_length=1, max_length=64)
    metrics: Annotated[dict[str, Any] | None, AfterValidator(_json_object)] = Field(
        default=None, description="AUC, PR-AUC, F1, … (a JSON object)."
    )
    trained_on: list[Semester] | None = Field(default=None, description="Semesters trained on.")
    training_rows: int | None = Field(default=None, ge=0)
    make_default: bool = Field(default=False, description="Make it the default model.")
    active: bool = Field(default=True, description="Register it active.")

    @model_validator(mode="after")
    def _default_is_active(self) -> RegisterModelRequest:
        if self.make_default and not self.active:
            raise ValueError(
                f"model {self.model_name} version {self.model_version} cannot be the default "
                "and inactive: the default model must be active"
            )
        return self

    def accuracy(self) -> float | None:
        value = (self.metrics or {}).get("accuracy")
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        return None


class MapCourseRequest(RegistryRequest):
    course_id: str = Field(min_length=1, max_length=255, description="The Open edX course id.")
    model_name: ModelName = Field(description="The serving model.")
    model_version: ModelVersion | None = Field(
        default=None, description="Pin a version; empty = the newest active version."
    )
    frequency: Frequency = Field(default="daily", description=" | ".join(FREQUENCIES))
    auto_predict: bool = Field(default=True, description="Scheduled runs score the course.")
    shadow_model_name: ModelName | None = Field(
        default=None, description="A challenger scored for comparison (never served)."
    )
    ab_model_name: ModelName | None = Field(default=None, description="The A/B model (arm B).")
    ab_share: float | None = Field(
        default=None, gt=0, lt=1, description="Share of students scored by the A/B model."
    )

    @model_validator(mode="after")
    def _ab_pair(self) -> MapCourseRequest:
        if self.ab_share is not None and self.ab_model_name is None:
            raise ValueError("ab_share is set without ab_model_name: name the A/B model (B arm)")
        if self.ab_model_name is not None and self.ab_share is None:
            raise ValueError(
                f"A/B model {self.ab_model_name} needs ab_share, the share of students it "
                "scores (strictly between 0 and 1)"
            )
        return self


Request = TypeVar("Request", bound=BaseModel)


def describe(error: ValidationError) -> str:
    """A pydantic error as one line an operator can act on (field: problem; …)."""
    parts = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "literal_error":
            message = f"{problem['input']!r} is not one of {problem['ctx']['expected']}"
        elif problem["type"] in ("greater_than", "less_than") and where == "ab_share":
            message = f"must be strictly between 0 and 1, got {problem['input']!r}"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def field_help(model: type[BaseModel], name: str) -> str | None:
    """The field's description, for the CLI's --help."""
    return model.model_fields[name].description
