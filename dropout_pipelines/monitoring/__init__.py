"""Operations: what tells an engineer that something went wrong (failed runs, stale
predictions) without anybody opening each run."""
