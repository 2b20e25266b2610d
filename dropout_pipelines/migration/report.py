"""Human summaries of a migration: the run's last log line and its Markdown tables."""

from __future__ import annotations

from collections.abc import Iterable

from dropout_pipelines.migration.profile import SourceProfile
from dropout_pipelines.migration.verify import Check


def summary_line(profile: SourceProfile, written: dict[str, int], *, dry_run: bool) -> str:
    """E.g. `984 raw rows → 964 student_features (20 duplicates folded), 984 predictions …`."""
    verb = "would give" if dry_run else "→"
    return (
        f"{profile.raw_rows} raw rows over {profile.courses} courses {verb} "
        f"{written.get('student_features', 0)} student_features "
        f"({profile.duplicate_rows} duplicates folded, {profile.duplicate_keys} keys), "
        f"{written.get('predictions', 0)} predictions "
        f"({profile.relevelled_rows} risk levels re-levelled from their score), "
        f"{written.get('training_data', 0)} training records, "
        f"{written.get('enrollments', 0)} enrollments"
    )


def planned_counts(profile: SourceProfile) -> dict[str, int]:
    """What a migration of this profile writes into an empty V2 schema."""
    return {
        "courses": profile.courses,
        "student_features": profile.keys,
        "enrollments": profile.keys,
        "predictions": profile.scored_rows,
        "training_data": profile.training_rows,
    }


def checks_markdown(checks: Iterable[Check]) -> str:
    lines = ["| rule | measure | raw_data | V2 | ok |", "|---|---|---:|---:|---|"]
    lines += [
        f"| {c.rule} | {c.measure} | {c.legacy:g} | {c.v2:g} | {'yes' if c.ok else 'NO'} |"
        for c in checks
    ]
    return "\n".join(lines)
