"""Unattended operation: what runs the term by itself (discovery, refresh-then-score
schedules and the batched refresh job)."""
