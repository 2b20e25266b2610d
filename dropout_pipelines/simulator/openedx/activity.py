"""Per-course learner behaviour, simulated in one vectorised pass per course.

Each enrollment has a latent engagement. It sets how long the learner persists (a hazard of
stopping), how diligently they open units, play videos, submit problems and try H5P content,
and how well they score. Grades, completion and every xAPI statement are read off the same
simulated event times, so the gradebook, the completion API and the LRS always agree, and a
model trained on early activity finds a real, noisy signal of the final outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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
K_VIEWED = 7  # a unit page view (navigation), the dense part of the click-stream

# Daily page views: a learner with engagement e visits the course on a day with probability
# sigmoid(VIEW_ACTIVE_BASE + VIEW_ACTIVE_SLOPE·e) (times a weekly rhythm) and then opens
# 1 + Poisson(exp(VIEW_BURST_BASE + VIEW_BURST_SLOPE·e)) pages, so most learners view 0–15
# pages a day, with many empty days. Over the 2–4 weeks (FADE_DAYS) before a learner stops
# for good, the chance of a visit, and so the expected views, fades down to FADE_FLOOR of it.
VIEW_ACTIVE_BASE, VIEW_ACTIVE_SLOPE = -2.6, 1.1
VIEW_BURST_BASE, VIEW_BURST_SLOPE = 0.25, 0.4
VIEW_HABIT_SD = 0.6  # a learner's own clicking habit (logit scale), independent of engagement
WEEKDAY_FACTOR = np.array([1.1, 1.05, 1.05, 1.0, 0.85, 0.8, 1.0])  # Monday … Sunday
FADE_DAYS = (14.0, 28.0)
FADE_FLOOR = 0.1

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


NEVER_MS = np.iinfo(np.int64).max  # the time of an event that never happens


@dataclass
class CourseActivity:
    """What one course's learners do over the whole run, indexed by enrollment row.

    Rows are in enrollment order (``created_s`` ascending), so the learners enrolled by any
    moment are a prefix of every array. Completable items are the columns of ``done_ms``
    (units, videos, problems, H5P contents, in that order): the time each learner first
    completed each one, or NEVER_MS. Grades and completion at a moment are read off these
    times (:class:`ActivityAt`), the LRS off the same events, so the two always agree.
    """

    user: np.ndarray  # global user index, int32
    created_s: np.ndarray  # enrollment time, int64 epoch seconds, ascending
    mode: np.ndarray  # index into MODES, int8
    engagement: np.ndarray  # latent, float32
    stop_s: np.ndarray  # when the learner stops for good (after the end if they never do)
    unenroll_s: np.ndarray  # when the learner unenrolls, or -1 if they never do
    done_ms: np.ndarray  # (n, completable items) int64 epoch ms, NEVER_MS if never done
    problem_columns: slice  # the problems' columns of done_ms
    problem_earned: np.ndarray  # (n, problems) points earned on each problem, float32
    subsection_starts: np.ndarray  # first problem column of each graded subsection
    statements: dict[str, np.ndarray]  # columns of this course's statements (unsorted)
    past_statements: int  # the first ones happen before the cut (see simulate_course)
    views: dict[str, np.ndarray]  # the page-view statements (K_VIEWED), from their own stream

    @property
    def completion_possible(self) -> int:
        return int(self.done_ms.shape[1])

    def __len__(self) -> int:
        return len(self.user)


class ActivityAt:
    """A course's activity as the LMS shows it at one moment (epoch ms): only enrollments
    created by then, unenrollments that have happened, grades and completion from the events
    up to then. Cheap to create (a binary search); each derived array is computed once, with
    numpy over the enrolled learners, when a request first needs it."""

    def __init__(self, course: CourseInfo, whole: CourseActivity, now_ms: int) -> None:
        self.course = course
        self.whole = whole
        self.now_ms = now_ms
        enrolled = int(np.searchsorted(whole.created_s, now_ms // 1000, "right"))
        self.user = whole.user[:enrolled]
        self.created_s = whole.created_s[:enrolled]
        self.mode = whole.mode[:enrolled]
        self.engagement = whole.engagement[:enrolled]
        self.completion_possible = whole.completion_possible

    def __len__(self) -> int:
        return len(self.user)

    @cached_property
    def withdrawn_s(self) -> np.ndarray:
        """The unenrollment time of those who have unenrolled by now, else -1."""
        at = self.whole.unenroll_s[: len(self)]
        return np.where((at >= 0) & (at * 1000 <= self.now_ms), at, -1)

    @cached_property
    def is_active(self) -> np.ndarray:
        return self.withdrawn_s < 0

    @cached_property
    def _problems_done(self) -> np.ndarray:
        return self.whole.done_ms[: len(self), self.whole.problem_columns] <= self.now_ms

    @cached_property
    def sub_attempted(self) -> np.ndarray:
        """(n, subsections): whether any problem of the subsection was answered by now."""
        starts = self.whole.subsection_starts
        return np.logical_or.reduceat(self._problems_done, starts, axis=1)

    @cached_property
    def sub_earned(self) -> np.ndarray:
        """(n, subsections): points earned by now."""
        earned = np.where(self._problems_done, self.whole.problem_earned[: len(self)], 0.0)
        return np.add.reduceat(earned, self.whole.subsection_starts, axis=1).astype(np.float32)

    @cached_property
    def percent(self) -> np.ndarray:
        """The course grade edX would show now, rounded to 2 places."""
        return course_percent(self.course, self.sub_attempted, self.sub_earned)

    @cached_property
    def completion_earned(self) -> np.ndarray:
        """Completed blocks by now (what the completion aggregator counts)."""
        done = self.whole.done_ms[: len(self)] <= self.now_ms
        return done.sum(axis=1).astype(np.float32)


def simulate_course(
    course: CourseInfo,
    users: np.ndarray,
    ability: np.ndarray,
    rng: np.random.Generator,
    later: np.random.Generator,
    cut_s: int,
    views_rng: np.random.Generator | None = None,
) -> CourseActivity:
    """Simulate one course run from enrollment to its end (what is visible when is decided
    later, by the simulator clock).

    Events before ``cut_s`` (the clock's start) draw from ``rng`` exactly as when the world
    stopped there; the draws whose count depends on how many events lie after it come from
    ``later``. So the world up to the clock's start is the one a frozen simulator served, and
    the rest of the term is drawn from the same model.

    Page views (:func:`simulate_views`) draw from ``views_rng`` alone (none without it), so
    adding them leaves every other statement, grade and enrollment as it was.
    """
    n = len(users)
    start, end = course.start_s, course.end_s
    length = end - start
    difficulty = rng.normal(0.0, 0.25)
    engagement = 0.75 * ability[users] + 0.66 * rng.standard_normal(n) - difficulty

    created = start + (rng.uniform(-21.0, 10.0, n) * DAY_S).astype(np.int64)
    if course.announced is not None:
        # Nobody enrolls in a course before it is announced.
        opened = int(course.announced.timestamp())
        created = np.maximum(created, opened + (rng.uniform(0.05, 4.0, n) * DAY_S).astype(np.int64))
    mode = rng.choice(len(MODES), size=n, p=MODE_SHARES).astype(np.int8)

    hazard = np.exp(-1.7 - 1.3 * engagement)
    stop_frac = rng.exponential(1.0 / hazard)
    stops = stop_frac < 1.0
    stop_s = np.where(stops, start + stop_frac * length, end + DAY_S).astype(np.int64)
    stop_s = np.maximum(stop_s, created + DAY_S)
    unenrolls = stops & (rng.random(n) < 0.45)
    withdraw_at = stop_s + (rng.uniform(0.5, 10.0, n) * DAY_S).astype(np.int64)
    withdraw_at = np.minimum(withdraw_at, np.maximum(stop_s, end))
    unenroll_s = np.where(unenrolls, withdraw_at, -1)
    limit = np.minimum(stop_s, end)

    diligence = _sigmoid(1.2 + 1.6 * engagement)
    quality = _sigmoid(0.9 + 1.1 * engagement + 0.5 * rng.standard_normal(n))

    past_blocks: list[dict[str, np.ndarray]] = []
    future_blocks: list[dict[str, np.ndarray]] = []
    course_ix = course.index

    def split_draw(past: np.ndarray, draw) -> np.ndarray:
        """``draw(generator, size)`` for the rows before the cut from ``rng``, others ``later``."""
        values = np.empty(len(past))
        values[past] = draw(rng, int(past.sum()))
        values[~past] = draw(later, int((~past).sum()))
        return values

    def emit(
        rows: np.ndarray, ts: np.ndarray, kind: int, item: np.ndarray, past: np.ndarray, **extra
    ) -> None:
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
        past_blocks.append({name: values[past] for name, values in block.items()})
        future_blocks.append({name: values[~past] for name, values in block.items()})

    everyone = np.arange(n)
    emit(everyone, created * 1000, K_REGISTERED, np.zeros(n), created < cut_s)
    gone = np.flatnonzero(unenrolls)
    withdrawn_at = unenroll_s[gone]
    emit(gone, withdrawn_at * 1000, K_UNREGISTERED, np.zeros(len(gone)), withdrawn_at < cut_s)

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
    at = unit_ts[rows, cols]
    emit(rows, at * 1000, K_EXPERIENCED, cols, at < cut_s)
    video_ts, video_done = timed_items(np.array(VIDEO_FRACS), 0.9 * diligence, slow)
    rows, cols = np.nonzero(video_done)
    at = video_ts[rows, cols]
    emit(rows, at * 1000, K_PLAYED, cols, at < cut_s)

    subsections = course.subsections
    problem_counts = [len(sub.problem_points) for sub in subsections]
    problem_ms = np.full((n, sum(problem_counts)), NEVER_MS, np.int64)
    problem_earned = np.zeros(problem_ms.shape, np.float32)
    column = 0
    for s, sub in enumerate(subsections):
        due = start + int(sub.due_frac * length)
        exam_bonus = 0.8 if sub.assignment_type != "Homework" else 0.0
        submit = due - (rng.uniform(0.05, 5.0, n) * DAY_S).astype(np.int64)
        attempts = (
            (rng.random(n) < _sigmoid(1.6 + 1.8 * engagement + exam_bonus))
            & (submit > created)
            & (submit < limit)
        )
        rows = np.flatnonzero(attempts)
        past = submit[rows] < cut_s
        for j, points in enumerate(sub.problem_points):
            noise = split_draw(past, lambda g, size: g.normal(0.0, 0.15, size))
            frac = np.clip(quality[rows] + noise, 0.0, 1.0)
            earned = np.rint(frac * points)
            gap = split_draw(past, lambda g, size: g.uniform(60, 600, size))
            ts = ((submit[rows] + j * gap) * 1000).astype(np.int64)
            problem_ms[rows, column] = ts
            problem_earned[rows, column] = earned
            column += 1
            item = np.full(len(rows), s * PROBLEMS_PER_SUBSECTION_MAX + j)
            emit(rows, ts, K_PROBLEM_ANSWERED, item, past, raw=earned, max=points)

    h5p_ms = np.full((n, len(course.h5p)), NEVER_MS, np.int64)
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
            if not len(rows):
                continue
            past = at[rows] < cut_s
            noise = split_draw(past, lambda g, size: g.normal(0.0, 0.12, size))
            scaled = np.clip(h5p_quality[rows] + noise + 0.07 * attempt, 0.0, 1.0)
            raw = np.rint(scaled * content.max_score)
            spread = split_draw(past, lambda g, size: g.lognormal(0.0, 0.4, size))
            seconds = content.base_duration_s * spread * (0.7 + 0.6 * diligence[rows])
            at_ms = at[rows] * 1000
            ts = at_ms.astype(np.int64)
            if attempt == 0:
                h5p_ms[rows, k] = ts
            emit(
                rows,
                ts,
                K_H5P_SCORED,
                np.full(len(rows), k),
                past,
                attempt=attempt + 1,
                raw=raw,
                max=content.max_score,
                duration_cs=np.rint(seconds * 100),
            )
            if content.interactive:
                emit(
                    rows,
                    at_ms - seconds * 1000 * 0.6,
                    K_H5P_INTERACTED,
                    np.full(len(rows), k),
                    past,
                    attempt=attempt + 1,
                )

    done_ms = np.concatenate(
        [
            np.where(unit_done, unit_ts * 1000, NEVER_MS),
            np.where(video_done, video_ts * 1000, NEVER_MS),
            problem_ms,
            h5p_ms,
        ],
        axis=1,
    ).astype(np.int64)
    first_problem = len(UNIT_FRACS) + len(VIDEO_FRACS)
    blocks = past_blocks + future_blocks
    statements = {
        name: np.concatenate([block[name] for block in blocks]) for name in STATEMENT_COLUMNS
    }
    # Rows in enrollment order, so "enrolled by now" is a prefix of every array.
    order = np.argsort(created, kind="stable")
    row_of = np.empty(n, np.int32)
    row_of[order] = np.arange(n, dtype=np.int32)
    statements["enrollment"] = row_of[statements["enrollment"]]
    views = simulate_views(course, users, engagement, created, stop_s, views_rng)
    views["enrollment"] = row_of[views["enrollment"]]
    return CourseActivity(
        user=users[order].astype(np.int32),
        created_s=created[order].astype(np.int64),
        mode=mode[order],
        engagement=engagement[order].astype(np.float32),
        stop_s=stop_s[order],
        unenroll_s=unenroll_s[order].astype(np.int64),
        done_ms=done_ms[order],
        problem_columns=slice(first_problem, first_problem + problem_ms.shape[1]),
        problem_earned=problem_earned[order],
        subsection_starts=np.cumsum([0, *problem_counts[:-1]]),
        statements=statements,
        past_statements=sum(len(block["ts_ms"]) for block in past_blocks),
        views=views,
    )


def simulate_views(
    course: CourseInfo,
    users: np.ndarray,
    engagement: np.ndarray,
    created: np.ndarray,
    stop_s: np.ndarray,
    rng: np.random.Generator | None,
) -> dict[str, np.ndarray]:
    """Daily navigation sessions: views of the course's released unit pages (OULAD-style
    ``viewed`` clicks), drawn over a (days × learners) grid per course.

    Each learner views pages between enrolling (or the course start) and stopping (or the
    end); how often and how many follow engagement and the weekday, and the visits fade over
    the two to four weeks before a learner stops, so engagement visibly drops weeks before a
    withdrawal. A day's views form one session, in the Vietnamese daytime or evening, a minute
    or two apart, mostly on the latest released unit.
    """
    n = len(users)
    if rng is None or n == 0:
        return {name: np.zeros(0, dtype) for name, dtype in STATEMENT_COLUMNS.items()}
    start, end = course.start_s, course.end_s
    first_day = start // DAY_S
    days = int(-(-end // DAY_S) - first_day)
    day_s = (first_day + np.arange(days, dtype=np.int64)) * DAY_S  # midnight UTC of each day
    lower = np.maximum(created, start)
    upper = np.minimum(stop_s, end)

    fade_days = rng.uniform(*FADE_DAYS, n)
    habit = rng.normal(0.0, VIEW_HABIT_SD, n)  # how much a learner clicks, beyond engagement
    visit = _sigmoid(VIEW_ACTIVE_BASE + VIEW_ACTIVE_SLOPE * engagement + habit)
    visit = visit.astype(np.float32)
    burst = np.exp(VIEW_BURST_BASE + VIEW_BURST_SLOPE * engagement + 0.5 * habit)
    weekday = WEEKDAY_FACTOR[(day_s // DAY_S + 3) % 7].astype(np.float32)  # 1970-01-01: Thu
    # Each day's noon, and each learner's stop, in days since the first midnight (float32:
    # every (days × learners) array below is float32 or bool).
    noon = np.arange(days, dtype=np.float32) + np.float32(0.5)
    stop_day = np.where(stop_s < end, (stop_s - day_s[0]) / DAY_S, np.inf).astype(np.float32)
    slope = ((1.0 - FADE_FLOOR) / fade_days).astype(np.float32)
    ramp = (stop_day[None, :] - noon[:, None]) * slope[None, :] + np.float32(FADE_FLOOR)
    np.clip(ramp, FADE_FLOOR, 1.0, out=ramp)
    ramp *= visit[None, :]
    ramp *= weekday[:, None]
    # A day counts when any part of it lies in the learner's active period.
    day = np.arange(days, dtype=np.int32)[:, None]
    first = ((lower - day_s[0]) // DAY_S).astype(np.int32)
    last = (-((day_s[0] - upper) // DAY_S)).astype(np.int32)  # first day wholly after it
    visits = rng.random((days, n), dtype=np.float32) < ramp
    visits &= (day >= first[None, :]) & (day < last[None, :])

    day_ix, rows = np.nonzero(visits)
    per_cell = 1 + rng.poisson(burst[rows])
    total = int(per_cell.sum())
    # One session a day, starting between 23:00 and 16:00 UTC (06:00–23:00 in Vietnam),
    # more often in the evening; its pages follow each other a minute or two apart.
    u = rng.random((2, len(day_ix)), dtype=np.float32)
    session = day_s[day_ix] - 3600 + (np.maximum(u[0], u[1]) * 17 * 3600).astype(np.int64)
    cell = np.repeat(np.arange(len(day_ix)), per_cell)
    u = rng.random((2, total), dtype=np.float32)
    gaps = 5.0 - 100.0 * np.log1p(-u[0])  # exponential, 105 s on average
    elapsed = np.cumsum(gaps, dtype=np.float64)
    cell_first = np.cumsum(per_cell) - per_cell
    elapsed -= (elapsed[cell_first] - gaps[cell_first])[cell]
    ts_ms = session[cell] * 1000 + (elapsed * 1000).astype(np.int64)
    view_rows = rows[cell]
    keep = (ts_ms >= lower[view_rows] * 1000) & (ts_ms < upper[view_rows] * 1000)
    ts_ms, view_rows, back_u = ts_ms[keep], view_rows[keep], u[1][keep]
    count = len(ts_ms)
    # The page: a released unit, most often the latest, sometimes an earlier one (a
    # geometric number of units back).
    released_ms = (start + (np.array(UNIT_FRACS) * (end - start)).astype(np.int64)) * 1000
    latest = np.searchsorted(released_ms, ts_ms, "right") - 1
    back = (np.log1p(-back_u) / np.log(0.45)).astype(np.int64)
    item = np.maximum(latest - back, 0)
    return {
        "ts_ms": ts_ms,
        "user": users[view_rows].astype(np.int32),
        "enrollment": view_rows.astype(np.int32),
        "course": np.full(count, course.index, np.int16),
        "kind": np.full(count, K_VIEWED, np.int8),
        "item": item.astype(np.int16),
        "attempt": np.zeros(count, np.int8),
        "raw": np.zeros(count, np.int16),
        "max": np.zeros(count, np.int16),
        "duration_cs": np.zeros(count, np.int32),
    }


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
