"""Request and response shapes of the read API, declared once (pydantic).

The endpoints validate and serialise through these, and the OpenAPI description at
`/api/openapi.json` is generated from them, so the document cannot drift from the code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dropout_pipelines.warehouse.schema import HIGH_RISK_FROM

RiskLevel = Literal["LOW", "MEDIUM", "HIGH"]
SortKey = Literal["risk", "name", "grade", "completion", "last_activity", "user_id"]
SortOrder = Literal["asc", "desc"]
PLACEHOLDER_RISK = 50.0
MAX_PAGE_SIZE = 500


class Shape(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(Shape):
    error: str = Field(description="What went wrong, in words an instructor can act on.")


class Course(Shape):
    course_id: str
    display_name: str | None = None
    org: str | None = None
    semester: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    students: int = Field(description="Students with features (visible on the page).")
    predicted: int = Field(description="Students with a serving prediction.")
    last_predicted_at: datetime | None = None


class CourseList(Shape):
    courses: list[Course]


class StudentsQuery(Shape):
    """The students endpoint's query string."""

    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    sort: SortKey = "risk"
    order: SortOrder = "desc"
    q: str | None = Field(
        default=None, max_length=200, description="Part of a name, username, email or user id."
    )
    level: RiskLevel | None = None


class StudentRow(Shape):
    user_id: int
    username: str | None = None
    full_name: str | None = None
    email: str | None = None
    mooc_grade_percentage: float | None = None
    mooc_completion_rate: float | None = None
    mooc_is_passed: bool | None = None
    days_since_last_activity: int | None = None
    fail_risk_score: float = Field(
        description=f"Latest serving score; {PLACEHOLDER_RISK:g} when none."
    )
    risk_level: RiskLevel
    is_placeholder: bool = Field(description="No prediction yet: the score is the placeholder.")
    model_name: str | None = None
    model_version: str | None = None
    predicted_at: datetime | None = None


class StudentPage(Shape):
    course_id: str
    total: int = Field(description="Students matching the query (all pages).")
    page: int
    page_size: int
    sort: SortKey
    order: SortOrder
    students: list[StudentRow]


class CourseStatistics(Shape):
    course_id: str
    total_students: int
    avg_risk_score: float | None = None
    avg_grade: float | None = None
    high_risk_count: int = Field(
        description=f"Latest risk ≥ {HIGH_RISK_FROM:g} and not (yet) passed."
    )
    predicted_students: int
    level_counts: dict[RiskLevel, int]


class Reason(Shape):
    feature: str
    value: float | None = None
    contribution: float | None = None


class PredictionPoint(Shape):
    """One saved prediction: what every view of a prediction shows."""

    fail_risk_score: float
    risk_level: RiskLevel
    model_name: str
    model_version: str
    purpose: str
    ab_arm: str | None = None
    snapshot_week: int | None = None
    snapshot_grade: float | None = None
    run_id: str
    predicted_at: datetime


class Prediction(PredictionPoint):
    id: int
    snapshot_completion_rate: float | None = None
    reasons: list[Reason] | None = None


class Feedback(Shape):
    useful: bool
    given_by: str
    given_at: datetime


class StudentDetail(Shape):
    course_id: str
    user_id: int
    username: str | None = None
    full_name: str | None = None
    email: str | None = None
    features: dict[str, Any]
    prediction: Prediction
    predicted_now: bool = Field(description="True when this request made the prediction.")
    feedback: list[Feedback]


class TimelinePoint(PredictionPoint):
    is_latest: bool


class RiskHistory(Shape):
    course_id: str
    user_id: int
    points: list[TimelinePoint]


class BatchPrediction(Shape):
    course_id: str
    mode: Literal["dagster", "in_process"] = Field(
        description="Launched as a Dagster run (DAGSTER_WEBSERVER_URL set) or scored here."
    )
    run_id: str
    status: str
    students: int | None = None
    high: int | None = None
    model: str | None = None


class ModelStats(Shape):
    model_name: str
    model_version: str
    purpose: str
    ab_arm: str | None = None
    students: int
    mean_risk: float | None = None
    high_risk: int
    medium_risk: int
    low_risk: int


class Agreement(Shape):
    students: int
    level_agreement: float | None = None
    mean_abs_difference: float | None = None


class ModelFeedback(Shape):
    model_name: str
    model_version: str
    useful: int
    not_useful: int


class ModelComparison(Shape):
    course_id: str
    run_id: str | None = None
    models: list[ModelStats]
    agreement: Agreement | None = None
    feedback: list[ModelFeedback]


class FeedbackRequest(Shape):
    model_config = ConfigDict(extra="forbid")

    useful: bool = Field(description="Was flagging this student useful?")


class FeedbackSaved(Shape):
    course_id: str
    user_id: int
    prediction_id: int
    model_name: str
    model_version: str
    useful: bool
    given_by: str
