"""Predictions: the model store, the model registry, model selection and scoring."""
