"""`python -m dropout_pipelines.registry …`: the model registry CLI (predict/registry_cli.py)."""

from dropout_pipelines.predict.registry_cli import main

if __name__ == "__main__":
    raise SystemExit(main())
