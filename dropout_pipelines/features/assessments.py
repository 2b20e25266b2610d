"""The grade so far under the course's grading policy, and assessment timing: pandas only.

Both come from the same inputs live and when a past week is rebuilt: the stored problem
submissions, the course outline (graded problems, their subsection, assignment type, points
and the subsection's due date) and the grading policy (weight and dropped subsections per
assignment type). The grade follows Open edX's rule: a subsection scores its best points
per problem over its possible points (0 when never attempted), each assignment type
averages its subsections after dropping the lowest `drop_count`, and the types are
weighted. Submitting late, missing due dates and the score of what was handed in show a
learner falling behind before the grade does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dropout_pipelines.distinct import per_distinct

USAGE_KEY = r"(block-v1:[^/?#\s]+)"
SECONDS_PER_DAY = 86_400.0
TIMING_COLUMNS = (
    "assessments_due",
    "assessments_submitted",
    "assessments_missed",
    "mean_lateness_days",
    "mean_submitted_score",
)


def usage_keys(block_ids: pd.Series) -> pd.Series:
    """An xAPI activity IRI (`…/xblock/block-v1:…`) reduced to the block's usage key."""
    return per_distinct(block_ids, _usage_keys)


def _usage_keys(block_ids: pd.Series) -> pd.Series:
    text = block_ids.astype(str)
    return text.str.extract(USAGE_KEY, expand=False).fillna(text)


def subsection_scores(attempts: pd.DataFrame, outline: pd.DataFrame) -> pd.DataFrame:
    """Per student and graded subsection attempted: points earned (best per problem), the
    fraction of the subsection's points, and the first submission's moment."""
    keyed = attempts.assign(problem_id=usage_keys(attempts["block_id"])).merge(
        outline[["problem_id", "subsection_id"]], on="problem_id", how="inner"
    )
    best = keyed.groupby(["user_id", "subsection_id", "problem_id"]).agg(
        score=("score_raw", "max"), first_at=("occurred_at", "min")
    )
    per = best.groupby(["user_id", "subsection_id"]).agg(
        earned=("score", "sum"), first_at=("first_at", "min")
    )
    possible = outline.groupby("subsection_id")["points"].sum()
    per = per.join(possible.rename("possible"), on="subsection_id")
    per["fraction"] = np.where(per["possible"] > 0, per["earned"] / per["possible"], 0.0).clip(0, 1)
    return per.reset_index()


def policy_grade(
    user_ids: pd.Series, scores: pd.DataFrame, outline: pd.DataFrame, policy: pd.DataFrame
) -> pd.Series:
    """The course grade (0–100) per user id of `user_ids`, as Open edX weights it."""
    subsections = outline.drop_duplicates("subsection_id")[["subsection_id", "assignment_type"]]
    grid = pd.MultiIndex.from_product(
        [user_ids.to_numpy(), subsections["subsection_id"].to_numpy()],
        names=["user_id", "subsection_id"],
    ).to_frame(index=False)
    grid = grid.merge(subsections, on="subsection_id").merge(
        scores[["user_id", "subsection_id", "fraction"]],
        on=["user_id", "subsection_id"],
        how="left",
    )
    grid["fraction"] = grid["fraction"].fillna(0.0)
    grid = grid.merge(policy, on="assignment_type", how="inner")
    grid["rank"] = grid.groupby(["user_id", "assignment_type"])["fraction"].rank(method="first")
    kept = grid[grid["rank"] > grid["drop_count"]]
    by_type = kept.groupby(["user_id", "assignment_type"]).agg(
        average=("fraction", "mean"), weight=("weight", "first")
    )
    total_weight = policy["weight"].sum()
    weighted = (by_type["average"] * by_type["weight"]).groupby("user_id").sum()
    grade = (weighted / total_weight * 100.0) if total_weight else weighted * 0.0
    return grade.reindex(user_ids.to_numpy()).fillna(0.0).clip(0, 100)


def assessment_timing(
    user_ids: pd.Series, scores: pd.DataFrame, outline: pd.DataFrame, moment: pd.Timestamp
) -> pd.DataFrame:
    """Per user id: graded subsections due by `moment`, how many were handed in (by
    `moment`), missed (nothing submitted by the due date), the mean lateness in days of the
    first submission (negative = early) and the mean score of what was handed in."""
    due = outline.drop_duplicates("subsection_id")[["subsection_id", "due"]]
    due = due[due["due"].notna() & (due["due"] <= moment)]
    grid = pd.MultiIndex.from_product(
        [user_ids.to_numpy(), due["subsection_id"].to_numpy()], names=["user_id", "subsection_id"]
    ).to_frame(index=False)
    grid = grid.merge(due, on="subsection_id").merge(
        scores[["user_id", "subsection_id", "first_at", "fraction"]],
        on=["user_id", "subsection_id"],
        how="left",
    )
    submitted = grid["first_at"].notna() & (grid["first_at"] <= moment)
    grid["submitted"] = submitted
    grid["missed"] = ~(submitted & (grid["first_at"] <= grid["due"]))
    grid["lateness"] = (
        (grid["first_at"] - grid["due"]).dt.total_seconds() / SECONDS_PER_DAY
    ).where(submitted)
    grid["score"] = grid["fraction"].where(submitted)
    per = grid.groupby("user_id").agg(
        assessments_due=("subsection_id", "size"),
        assessments_submitted=("submitted", "sum"),
        assessments_missed=("missed", "sum"),
        mean_lateness_days=("lateness", "mean"),
        mean_submitted_score=("score", "mean"),
    )
    out = per.reindex(user_ids.to_numpy())
    counts = ["assessments_due", "assessments_submitted", "assessments_missed"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out.index.name = "user_id"
    return out.reset_index()
