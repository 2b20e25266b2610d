"""Per-course learner behaviour, simulated in one vectorised pass per course.

Each enrollment has a latent engagement. It sets how long the learner persists (a hazard of
stopping), how diligently they open units, play videos, submit problems and try H5P content,
and how well they score. Grades, completion and every xAPI statement are read off the same
simulated event times, so the gradebook, the completion API and the LRS always agree, and a
model trained on early activity finds a real, noisy signal of the final outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dropout_pipelines.simulator.openedx.catalog import (
    ASSIGNMENT_TYPES,
    DAY_S,
    UNIT_FRACS,
    VIDEO_FRACS,
    CourseInfo,
)

MODES = np.array(["audit", "verified", "honor", "masters"])
MODE_SHARES = (0.55, 0.3, 0.1, 0.05)
MASTERS = 3
PROBLEMS_PER_SUBSECTION_MAX = 4

# Statement kinds (the `kind` column of the statement table).
K_REGISTERED, K_UNREGISTERED, K_EXPERIENCED, K_PLAYED = 0, 1, 2, 3
K_PROBLEM_ANSWERED, K_H5P_SCORED, K_H5P_INTERACTED = 4, 5, 6

STATEMENT_COLUMNS = {
    "ts_ms": np.int64,
    "user": np.int32,
    "enrollment": np.int32,
    "course": np.int16,
    "kind": np.int8,
    "item": np.int16,
    "attempt": np.int8,
    "raw": np.int16,
    "max": np.int16,
    "duration_cs": np.int32,
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class CourseActivity:
    """What one course's learners did; arrays are indexed by the course's enrollment index."""

    user: np.ndarray  # global user index, int32
    created_s: np.ndarray  # enrollment time, int64 epoch seconds
    mode: np.ndarray  # index into MODES, int8
    engagement: np.ndarray  # latent, float32
    is_active: np.ndarray  # False once the learner unenrolled
    withdrawn_s: np.ndarray  # unenrollment time, or -1
    last_activity_s: np.ndarray  # last statement time, or created
    sub_attempted: np.ndarray  # (n, subsections) bool
    sub_earned: np.ndarray  # (n, subsections) float32
    percent: np.ndarray  # the course grade edX would show now, rounded to 2 places
    completion_earned: np.ndarray  # completed blocks, float32
    completion_possible: int
    statements: dict[str, np.ndarray]  # columns of this course's statements (unsorted)


def simulate_course(
    course: CourseInfo,
    users: np.ndarray,
    ability: np.ndarray,
    now_s: int,
    rng: np.random.Generator,
) -> CourseActivity:
    """Simulate one course run up to ``now_s`` (or its end, if earlier)."""
    n = len(users)
    start, end = course.start_s, course.end_s
    length = end - start
    horizon = min(now_s, end)
    difficulty = rng.normal(0.0, 0.25)
    engagement = 0.75 * ability[users] + 0.66 * rng.standard_normal(n) - difficulty

    created = start + (rng.uniform(-21.0, 10.0, n) * DAY_S).astype(np.int64)
    created = np.minimum(created, now_s - 3600)
    mode = rng.choice(len(MODES), size=n, p=MODE_SHARES).astype(np.int8)

    hazard = np.exp(-1.7 - 1.3 * engagement)
    stop_frac = rng.exponential(1.0 / hazard)
    stops = stop_frac < 1.0
    stop_s = np.where(stops, start + stop_frac * length, end + DAY_S).astype(np.int64)
    stop_s = np.maximum(stop_s, created + DAY_S)
    unenrolls = stops & (rng.random(n) < 0.45)
    withdraw_at = stop_s + (rng.uniform(0.5, 10.0, n) * DAY_S).astype(np.int64)
    withdraw_at = np.minimum(withdraw_at, np.maximum(stop_s, end))
    withdrawn = unenrolls & (withdraw_at < now_s)
    withdrawn_s = np.where(withdrawn, withdraw_at, -1)
    limit = np.minimum(stop_s, horizon)

    diligence = _sigmoid(1.2 + 1.6 * engagement)
    quality = _sigmoid(0.9 + 1.1 * engagement + 0.5 * rng.standard_normal(n))

    columns: list[dict[str, np.ndarray]] = []
    course_ix = course.index

    def emit(rows: np.ndarray, ts: np.ndarray, kind: int, item: np.ndarray, **extra) -> None:
        count = len(rows)
        block = {
            "ts_ms": ts.astype(np.int64),
            "user": users[rows].astype(np.int32),
            "enrollment": rows.astype(np.int32),
            "course": np.full(count, course_ix, np.int16),
            "kind": np.full(count, kind, np.int8),
            "item": item.astype(np.int16),
        }
        for name in ("attempt", "raw", "max", "duration_cs"):
            value = extra.get(name, 0)
            block[name] = np.broadcast_to(np.asarray(value), (count,)).astype(
                STATEMENT_COLUMNS[name]
            )
        columns.append(block)

    everyone = np.arange(n)
    emit(everyone, created * 1000, K_REGISTERED, np.zeros(n))
    gone = np.flatnonzero(withdrawn)
    emit(gone, withdrawn_s[gone] * 1000, K_UNREGISTERED, np.zeros(len(gone)))

    last_activity = created.astype(np.int64).copy()

    def timed_items(fracs: np.ndarray, rate: np.ndarray, mean_delay_days: np.ndarray):
        available = start + (fracs[None, :] * length).astype(np.int64)
        begin = np.maximum(available, created[:, None])
        delay = rng.exponential(1.0, (n, len(fracs))) * mean_delay_days[:, None] * DAY_S
        ts = begin + delay.astype(np.int64)
        done = (rng.random((n, len(fracs))) < rate[:, None]) & (ts < limit[:, None])
        return ts, done

    slow = 0.5 + 2.5 * (1.0 - diligence)
    unit_ts, unit_done = timed_items(np.array(UNIT_FRACS), diligence, slow)
    rows, cols = np.nonzero(unit_done)
    emit(rows, unit_ts[rows, cols] * 1000, K_EXPERIENCED, cols)
    video_ts, video_done = timed_items(np.array(VIDEO_FRACS), 0.9 * diligence, slow)
    rows, cols = np.nonzero(video_done)
    emit(rows, video_ts[rows, cols] * 1000, K_PLAYED, cols)
    for ts, done in ((unit_ts, unit_done), (video_ts, video_done)):
        last_activity = np.maximum(last_activity, np.where(done, ts, 0).max(axis=1))

    subsections = course.subsections
    n_sub = len(subsections)
    sub_attempted = np.zeros((n, n_sub), bool)
    sub_earned = np.zeros((n, n_sub), np.float32)
    problems_done = np.zeros(n, np.int64)
    for s, sub in enumerate(subsections):
        due = start + int(sub.due_frac * length)
        exam_bonus = 0.8 if sub.assignment_type != "Homework" else 0.0
        submit = due - (rng.uniform(0.05, 5.0, n) * DAY_S).astype(np.int64)
        attempts = (
            (rng.random(n) < _sigmoid(1.6 + 1.8 * engagement + exam_bonus))
            & (submit > created)
            & (submit < limit)
        )
        sub_attempted[:, s] = attempts
        rows = np.flatnonzero(attempts)
        problems_done += attempts * len(sub.problem_points)
        if len(rows):
            last_activity[rows] = np.maximum(last_activity[rows], submit[rows])
        for j, points in enumerate(sub.problem_points):
            frac = np.clip(quality[rows] + rng.normal(0.0, 0.15, len(rows)), 0.0, 1.0)
            earned = np.rint(frac * points)
            sub_earned[rows, s] += earned
            ts = (submit[rows] + j * rng.uniform(60, 600, len(rows))) * 1000
            item = np.full(len(rows), s * PROBLEMS_PER_SUBSECTION_MAX + j)
            emit(rows, ts, K_PROBLEM_ANSWERED, item, raw=earned, max=points)

    h5p_attempted = np.zeros(n, np.int64)
    h5p_quality = np.clip(quality + rng.normal(0.0, 0.1, n), 0.0, 1.0)
    for k, content in enumerate(course.h5p):
        available = start + int(content.unlock_frac * length)
        first = np.maximum(available, created) + (rng.exponential(1.0, n) * slow * DAY_S).astype(
            np.int64
        )
        tries = 1 + (rng.random(n) < 0.35) + (rng.random(n) < 0.15)
        wants = rng.random(n) < 0.95 * diligence
        at = first.astype(np.float64)
        for attempt in range(3):
            if attempt:
                at = at + rng.exponential(1.0, n) * DAY_S
            keep = wants & (tries > attempt) & (at < limit)
            rows = np.flatnonzero(keep)
            if attempt == 0:
                h5p_attempted += keep
            if not len(rows):
                continue
            scaled = np.clip(
                h5p_quality[rows] + rng.normal(0.0, 0.12, len(rows)) + 0.07 * attempt, 0.0, 1.0
            )
            raw = np.rint(scaled * content.max_score)
            seconds = (
                content.base_duration_s
                * rng.lognormal(0.0, 0.4, len(rows))
                * (0.7 + 0.6 * diligence[rows])
            )
            ts = at[rows] * 1000
            emit(
                rows,
                ts,
                K_H5P_SCORED,
                np.full(len(rows), k),
                attempt=attempt + 1,
                raw=raw,
                max=content.max_score,
                duration_cs=np.rint(seconds * 100),
            )
            if content.interactive:
                emit(
                    rows,
                    ts - seconds * 1000 * 0.6,
                    K_H5P_INTERACTED,
                    np.full(len(rows), k),
                    attempt=attempt + 1,
                )
            last_activity[rows] = np.maximum(last_activity[rows], at[rows].astype(np.int64))

    percent = course_percent(course, sub_attempted, sub_earned)
    completion_possible = (
        len(UNIT_FRACS)
        + len(VIDEO_FRACS)
        + sum(len(sub.problem_points) for sub in subsections)
        + len(course.h5p)
    )
    completion = (
        unit_done.sum(axis=1) + video_done.sum(axis=1) + problems_done + h5p_attempted
    ).astype(np.float32)
    statements = {
        name: np.concatenate([block[name] for block in columns]) for name in STATEMENT_COLUMNS
    }
    return CourseActivity(
        user=users.astype(np.int32),
        created_s=created.astype(np.int64),
        mode=mode,
        engagement=engagement.astype(np.float32),
        is_active=~withdrawn,
        withdrawn_s=withdrawn_s.astype(np.int64),
        last_activity_s=last_activity,
        sub_attempted=sub_attempted,
        sub_earned=sub_earned,
        percent=percent,
        completion_earned=completion,
        completion_possible=completion_possible,
        statements=statements,
    )


def course_percent(course: CourseInfo, attempted: np.ndarray, earned: np.ndarray) -> np.ndarray:
    """The course grade the edX weighted-subsection grader computes.

    Each assignment type averages its subsections' earned/possible (unattempted and not yet due
    count as zero), after dropping the lowest ``drop_count``; types are weighted and summed and
    the result is rounded to two places, as edX does before comparing it with the cutoffs.
    """
    possible = np.array([sub.points_possible for sub in course.subsections], np.float32)
    ratio = np.where(attempted, earned / possible[None, :], 0.0)
    total = np.zeros(len(earned), np.float64)
    for atype in ASSIGNMENT_TYPES:
        cols = [i for i, sub in enumerate(course.subsections) if sub.assignment_type == atype.name]
        scores = np.sort(ratio[:, cols], axis=1)[:, atype.drop_count :]
        total += atype.weight * scores.mean(axis=1)
    return np.floor(total * 100 + 0.5) / 100
