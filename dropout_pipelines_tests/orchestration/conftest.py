"""The orchestration tests score courses: they share the prediction tests' real models."""

from dropout_pipelines_tests.predict.conftest import (  # noqa: F401 - fixtures
    _fresh_model_cache,
    model_store,
    stored_model,
    trained_model,
)
