"""What the read API refuses, as exceptions the app turns into HTTP statuses."""


class ApiError(Exception):
    status = 400


class NotFound(ApiError):
    """An unknown course, or a student with no features in it (404)."""

    status = 404


class Conflict(ApiError):
    """The request cannot be met in the warehouse's current state (409), e.g. no model."""

    status = 409


class LaunchFailed(ApiError):
    """Dagster's webserver refused or could not be reached for a batch run (502)."""

    status = 502
