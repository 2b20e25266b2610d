"""The xAPI 1.0.3 Learning Record Store part of the simulator (``/xAPI``).

``GET /xAPI/statements`` answers a StatementResult ``{"statements": [...], "more": IRL}``
with the filters the pipelines use (``activity``, ``related_activities``, ``agent``,
``verb``, ``since`` exclusive, ``until`` inclusive, ``limit``, ``ascending``) and follows
the spec's defaults: newest ``stored`` first unless ``ascending=true``, ``more`` is ``""``
on the last page. Requests need HTTP basic auth (401 otherwise) and an
``X-Experience-API-Version: 1.0.x`` header (400 otherwise).

The store holds every statement of the whole run; a request sees those stored by the
simulator clock's now (a prefix of the ``stored`` order, found by binary search). A ``more``
link keeps the now of its first page, so paging through a result stays consistent while the
clock moves; a later ``since`` query picks up what was stored in between.

Statements are rendered from the statement table's columns only for the rows served; an
id encodes its row, so ``statementId`` look-ups need no index.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlencode

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dropout_pipelines.simulator.openedx.activity import (
    K_EXPERIENCED,
    K_H5P_INTERACTED,
    K_H5P_SCORED,
    K_PLAYED,
    K_PROBLEM_ANSWERED,
    K_REGISTERED,
    K_UNREGISTERED,
    K_VIEWED,
    PROBLEMS_PER_SUBSECTION_MAX,
)
from dropout_pipelines.simulator.openedx.auth import basic_credentials
from dropout_pipelines.simulator.openedx.catalog import VIDEO_LENGTHS_S, CourseInfo
from dropout_pipelines.simulator.openedx.data import Dataset

XAPI_VERSION = "1.0.3"
VERSION_HEADER = "X-Experience-API-Version"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
ERB_VERSION = "event-routing-backends@9.3.0"

VERB_IRIS = {
    "registered": "http://adlnet.gov/expapi/verbs/registered",
    "unregistered": "http://id.tincanapi.com/verb/unregistered",
    "experienced": "http://adlnet.gov/expapi/verbs/experienced",
    "played": "https://w3id.org/xapi/video/verbs/played",
    "answered": "http://adlnet.gov/expapi/verbs/answered",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "interacted": "http://adlnet.gov/expapi/verbs/interacted",
    "viewed": "http://id.tincanapi.com/verb/viewed",  # navigation (page views)
}
VERB_NAMES = tuple(VERB_IRIS)
VERB_CODES = {name: code for code, name in enumerate(VERB_NAMES)}
ACTIVITY_COURSE = "http://adlnet.gov/expapi/activities/course"
ACTIVITY_MODULE = "http://adlnet.gov/expapi/activities/module"
ACTIVITY_VIDEO = "https://w3id.org/xapi/video/activity-type/video"
ACTIVITY_QUESTION = "http://adlnet.gov/expapi/activities/question"
ACTIVITY_INTERACTION = "http://adlnet.gov/expapi/activities/cmi.interaction"
H5P_LOCAL_ID = "http://h5p.org/x-api/h5p-local-content-id"
BLOCK_KINDS = {
    "vertical": (K_EXPERIENCED, K_VIEWED),
    "video": (K_PLAYED,),
    "problem": (K_PROBLEM_ANSWERED,),
    "h5pxblock": (K_H5P_SCORED, K_H5P_INTERACTED),
}
VERSION_PATTERN = re.compile(r"^1\.0(\.\d+)?$")
AUTHORITY = {"objectType": "Agent", "name": "Open edX LRS", "mbox": "mailto:lrs@example.edu.vn"}


class LrsError(Exception):
    """A client error the LRS reports with a status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class StatementQuery:
    """The filters of one statements request (carried inside ``more`` tokens)."""

    activity: str | None = None
    related_activities: bool = False
    agent: str | None = None
    verb: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int = DEFAULT_LIMIT
    ascending: bool = False
    as_of_ms: int | None = None  # the clock's now at the first page of a paged result

    def candidate_key(self) -> tuple:
        return (self.activity, self.related_activities, self.agent, self.verb)


@dataclass(frozen=True)
class Candidates:
    """Statement rows selected by a query's filters, in ``stored`` order, with their
    ``stored`` values (``rows`` None means every statement, without copying anything)."""

    rows: np.ndarray | None
    stored: np.ndarray

    def __len__(self) -> int:
        return len(self.stored)

    def take(self, start: int, stop: int) -> np.ndarray:
        if self.rows is None:
            return np.arange(start, stop)
        return self.rows[start:stop]


def parse_timestamp(text: str, name: str) -> int:
    """An ISO 8601 timestamp as epoch milliseconds (400 when it is not one)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise LrsError(400, f"{name} is not an ISO 8601 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        raise LrsError(400, f"{name} must carry a time zone: {text!r}")
    return int(round(moment.timestamp() * 1000))


def _bool(text: str | None, name: str) -> bool:
    if text is None:
        return False
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise LrsError(400, f"{name} must be true or false")


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as an xAPI timestamp (``2026-10-01T08:15:30.123Z``)."""
    seconds, millis = divmod(int(ms), 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


class StatementStore:
    """Queries and renders the dataset's statement table for one running simulator."""

    def __init__(self, data: Dataset, actor_id: str) -> None:
        self.data = data
        self.actor_id = actor_id
        self.table = data.statements
        cols = self.table.columns
        self._key = hashlib.sha256(f"statement-ids-{data.params.seed}".encode()).digest()
        self._mask = int.from_bytes(hashlib.sha256(self._key).digest()[:6], "big")
        completes = np.zeros((len(data.courses), 64), bool)
        for course in data.courses:
            for k, content in enumerate(course.info.h5p):
                completes[course.info.index, k] = content.verb == "completed"
        verb = np.zeros(len(self.table), np.int8)
        verb[cols["kind"] == K_REGISTERED] = VERB_CODES["registered"]
        verb[cols["kind"] == K_UNREGISTERED] = VERB_CODES["unregistered"]
        verb[cols["kind"] == K_EXPERIENCED] = VERB_CODES["experienced"]
        verb[cols["kind"] == K_PLAYED] = VERB_CODES["played"]
        verb[cols["kind"] == K_PROBLEM_ANSWERED] = VERB_CODES["answered"]
        verb[cols["kind"] == K_H5P_INTERACTED] = VERB_CODES["interacted"]
        verb[cols["kind"] == K_VIEWED] = VERB_CODES["viewed"]
        scored = cols["kind"] == K_H5P_SCORED
        verb[scored] = np.where(
            completes[cols["course"][scored], cols["item"][scored]],
            VERB_CODES["completed"],
            VERB_CODES["answered"],
        )
        self.verb = verb
        self._candidates: OrderedDict[tuple, Candidates] = OrderedDict()

    # -- identifiers ---------------------------------------------------------------------

    def platform_course_iri(self, platform: str, info: CourseInfo) -> str:
        return f"{platform}/course/{info.course_id}"

    def statement_id(self, row: int) -> str:
        """A v4-shaped UUID that encodes its row: the last six bytes are the row masked with a
        seeded key, the first ten a keyed hash of them, so look-ups need no index."""
        tail = (int(row) ^ self._mask).to_bytes(6, "big")
        head = bytearray(hashlib.blake2b(tail, key=self._key, digest_size=10).digest())
        head[6] = (head[6] & 0x0F) | 0x40
        head[8] = (head[8] & 0x3F) | 0x80
        return str(uuid.UUID(bytes=bytes(head) + tail))

    def row_of_statement_id(self, text: str, now_ms: int) -> int | None:
        """The row of a statement stored by ``now_ms``, or None."""
        try:
            parsed = uuid.UUID(text)
        except ValueError:
            return None
        row = int.from_bytes(parsed.bytes[10:], "big") ^ self._mask
        if row >= self.table.visible_count(now_ms) or self.statement_id(row) != str(parsed):
            return None
        return row

    # -- querying ------------------------------------------------------------------------

    def query_from_request(self, request: Request) -> tuple[StatementQuery, int]:
        """The query and start position of a request (fresh, or a ``more`` continuation)."""
        params = request.query_params
        token = params.get("more")
        if token:
            try:
                payload = json.loads(base64.urlsafe_b64decode(token.encode()))
                return StatementQuery(**payload["q"]), int(payload["p"])
            except (ValueError, KeyError, TypeError):
                raise LrsError(400, "the more token is not one this LRS issued") from None
        if "voidedStatementId" in params:
            raise LrsError(404, "no voided statements are stored")
        limit_text = params.get("limit", str(DEFAULT_LIMIT))
        if not limit_text.isdigit():
            raise LrsError(400, "limit must be a non-negative integer")
        limit = int(limit_text) or MAX_LIMIT
        for name in ("since", "until"):
            if params.get(name):
                parse_timestamp(params[name], name)
        query = StatementQuery(
            activity=params.get("activity"),
            related_activities=_bool(params.get("related_activities"), "related_activities"),
            agent=params.get("agent"),
            verb=params.get("verb"),
            since=params.get("since"),
            until=params.get("until"),
            limit=min(limit, MAX_LIMIT),
            ascending=_bool(params.get("ascending"), "ascending"),
        )
        return query, 0

    def page(
        self, query: StatementQuery, position: int, platform: str, now_ms: int
    ) -> tuple[list[dict], str]:
        """One page of statements stored by ``now_ms`` (or by the now a ``more`` link
        carries) and the ``more`` IRL (``""`` when this is the last page)."""
        if query.as_of_ms is None:
            query = replace(query, as_of_ms=now_ms)
        candidates = self._candidates_for(query, platform)
        stored = candidates.stored
        low = 0
        high = int(np.searchsorted(stored, min(query.as_of_ms, now_ms), "right"))
        if query.since:
            since = parse_timestamp(query.since, "since")
            low = min(high, int(np.searchsorted(stored, since, "right")))
        if query.until:
            until = parse_timestamp(query.until, "until")
            high = min(high, int(np.searchsorted(stored, until, "right")))
        span = max(0, high - low)
        begin, end = position, min(position + query.limit, span)
        if query.ascending:
            chosen = candidates.take(low + begin, low + end)
        else:
            chosen = candidates.take(high - end, high - begin)[::-1]
        statements = [self.render(int(row), platform) for row in chosen]
        more = ""
        if end < span:
            payload = {"q": query.__dict__, "p": end}
            token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
            more = "/xAPI/statements?" + urlencode({"more": token})
        return statements, more

    def _candidates_for(self, query: StatementQuery, platform: str) -> Candidates:
        """The rows a query's filters select, cached so paging through them is O(page)."""
        if not (query.activity or query.agent or query.verb):
            return Candidates(None, self.table.stored_ms)
        key = (*query.candidate_key(), platform)
        cached = self._candidates.get(key)
        if cached is not None:
            self._candidates.move_to_end(key)
            return cached
        rows = self._activity_rows(query.activity, query.related_activities, platform)
        if query.agent:
            user = self._agent_user(query.agent, platform)
            rows = rows[:0] if user is None else rows[self.table.columns["user"][rows] == user]
        if query.verb:
            code = {iri: VERB_CODES[name] for name, iri in VERB_IRIS.items()}.get(query.verb)
            rows = rows[:0] if code is None else rows[self.verb[rows] == code]
        candidates = Candidates(rows, self.table.stored_ms[rows])
        self._candidates[key] = candidates
        if len(self._candidates) > 64:
            self._candidates.popitem(last=False)
        return candidates

    def _activity_rows(self, activity: str | None, related: bool, platform: str) -> np.ndarray:
        cols = self.table.columns
        if not activity:
            return np.arange(len(self.table))
        if activity.startswith(f"{platform}/course/"):
            course = self.data.course(activity[len(platform) + len("/course/") :])
            if course is None:
                return np.arange(0)
            rows = self.table.by_course[course.info.index]
            if related:
                return rows
            kinds = cols["kind"][rows]
            return rows[(kinds == K_REGISTERED) | (kinds == K_UNREGISTERED)]
        if activity.startswith(f"{platform}/xblock/"):
            return self._block_rows(activity[len(platform) + len("/xblock/") :])
        return np.arange(0)

    def _block_rows(self, usage_key: str) -> np.ndarray:
        match = re.fullmatch(
            r"block-v1:([^+]+)\+([^+]+)\+([^+]+)\+type@([^+]+)\+block@(.+)", usage_key
        )
        if not match:
            return np.arange(0)
        org, number, run, block_type, slug = match.groups()
        course = self.data.course(f"course-v1:{org}+{number}+{run}")
        if course is None or block_type not in BLOCK_KINDS:
            return np.arange(0)
        item = self._item_of(course.info, block_type, slug)
        if item is None:
            return np.arange(0)
        rows = self.table.by_course[course.info.index]
        cols = self.table.columns
        mask = np.isin(cols["kind"][rows], BLOCK_KINDS[block_type]) & (cols["item"][rows] == item)
        return rows[mask]

    @staticmethod
    def _item_of(info: CourseInfo, block_type: str, slug: str) -> int | None:
        if block_type == "vertical" and re.fullmatch(r"unit\d\d", slug):
            return int(slug[4:]) - 1
        if block_type == "video" and re.fullmatch(r"video\d\d", slug):
            return int(slug[5:]) - 1
        if block_type == "h5pxblock":
            slugs = [content.slug for content in info.h5p]
            return slugs.index(slug) if slug in slugs else None
        if block_type == "problem":
            for s, sub in enumerate(info.subsections):
                for j in range(len(sub.problem_points)):
                    if slug == f"{sub.slug}_p{j + 1}":
                        return s * PROBLEMS_PER_SUBSECTION_MAX + j
        return None

    def _agent_user(self, agent_json: str, platform: str) -> int | None:
        try:
            agent = json.loads(agent_json)
        except ValueError:
            raise LrsError(400, "agent is not a JSON Agent") from None
        if not isinstance(agent, dict):
            raise LrsError(400, "agent is not a JSON Agent")
        users = self.data.users
        if "mbox" in agent:
            address = str(agent["mbox"]).removeprefix("mailto:")
            return users.index_by_email.get(address) if self.actor_id == "email" else None
        account = agent.get("account") or {}
        name = account.get("name")
        if not name or self.actor_id == "email":
            return None
        if self.actor_id == "external_id":
            return users.index_by_external_id.get(name)
        return users.index_of_username(name)

    # -- rendering -----------------------------------------------------------------------

    def actor(self, user: int, platform: str) -> dict:
        users = self.data.users
        if self.actor_id == "email":
            return {"objectType": "Agent", "mbox": f"mailto:{users.email(user)}"}
        name = users.external_id(user) if self.actor_id == "external_id" else users.username(user)
        return {"objectType": "Agent", "account": {"homePage": platform, "name": name}}

    def render(self, row: int, platform: str) -> dict:
        """One statement, as event routing (course activity) or H5P (content) sends it."""
        cols = self.table.columns
        kind = int(cols["kind"][row])
        info = self.data.courses[int(cols["course"][row])].info
        item = int(cols["item"][row])
        course_activity = {
            "id": self.platform_course_iri(platform, info),
            "objectType": "Activity",
            "definition": {"type": ACTIVITY_COURSE, "name": {"en": info.display_name}},
        }
        verb_name = VERB_NAMES[self.verb[row]]
        language = "en-US" if kind in (K_H5P_SCORED, K_H5P_INTERACTED) else "en"
        statement: dict = {
            "id": self.statement_id(row),
            "actor": self.actor(int(cols["user"][row]), platform),
            "verb": {"id": VERB_IRIS[verb_name], "display": {language: verb_name}},
        }
        day = int(cols["ts_ms"][row]) // 86_400_000
        session = f"{cols['user'][row]}-{cols['course'][row]}-{day}"
        erb_context = {
            "contextActivities": {"parent": [course_activity]},
            "extensions": {
                "https://w3id.org/xapi/openedx/extension/transformer-version": ERB_VERSION,
                "https://w3id.org/xapi/openedx/extensions/session-id": hashlib.md5(
                    session.encode()
                ).hexdigest(),
            },
        }
        if kind in (K_REGISTERED, K_UNREGISTERED):
            statement["object"] = course_activity
            statement["context"] = {"extensions": dict(erb_context["extensions"])}
        elif kind in (K_EXPERIENCED, K_VIEWED):
            # A unit viewed in the course outline or sequence navigation, or experienced.
            statement["object"] = self._block(
                platform,
                info,
                "vertical",
                f"unit{item + 1:02d}",
                ACTIVITY_MODULE,
                f"Unit {item + 1}",
            )
            statement["context"] = erb_context
        elif kind == K_PLAYED:
            length = VIDEO_LENGTHS_S[item % len(VIDEO_LENGTHS_S)]
            statement["object"] = self._block(
                platform, info, "video", f"video{item + 1:02d}", ACTIVITY_VIDEO, f"Video {item + 1}"
            )
            statement["result"] = {
                "extensions": {"https://w3id.org/xapi/video/extensions/time": float(row % length)}
            }
            erb_context["extensions"]["https://w3id.org/xapi/video/extensions/length"] = float(
                length
            )
            statement["context"] = erb_context
        elif kind == K_PROBLEM_ANSWERED:
            sub = info.subsections[item // PROBLEMS_PER_SUBSECTION_MAX]
            j = item % PROBLEMS_PER_SUBSECTION_MAX
            statement["object"] = self._block(
                platform,
                info,
                "problem",
                f"{sub.slug}_p{j + 1}",
                ACTIVITY_QUESTION,
                f"{sub.display_name} – câu {j + 1}",
            )
            raw, top = int(cols["raw"][row]), int(cols["max"][row])
            statement["result"] = {
                "score": {"scaled": round(raw / top, 4), "raw": raw, "min": 0, "max": top},
                "success": raw == top,
                "response": f"choice_{row % 4}",
            }
            statement["context"] = erb_context
        else:
            statement.update(self._h5p(row, kind, info, item, platform, course_activity))
        statement["timestamp"] = iso_ms(int(cols["ts_ms"][row]))
        statement["stored"] = iso_ms(int(self.table.stored_ms[row]))
        statement["authority"] = AUTHORITY
        statement["version"] = XAPI_VERSION
        return statement

    def _block(
        self, platform: str, info: CourseInfo, block_type: str, slug: str, kind: str, name: str
    ) -> dict:
        return {
            "id": f"{platform}/xblock/{info.block_id(block_type, slug)}",
            "objectType": "Activity",
            "definition": {"type": kind, "name": {"en": name}},
        }

    def _h5p(
        self, row: int, kind: int, info: CourseInfo, item: int, platform: str, parent: dict
    ) -> dict:
        cols = self.table.columns
        content = info.h5p[item]
        part: dict = {
            "object": {
                "id": f"{platform}/xblock/{info.block_id('h5pxblock', content.slug)}",
                "objectType": "Activity",
                "definition": {
                    "name": {"en-US": content.title},
                    "type": ACTIVITY_INTERACTION,
                    "interactionType": "other",
                    "extensions": {H5P_LOCAL_ID: str(item + 1)},
                },
            },
            "context": {
                "contextActivities": {
                    "parent": [parent],
                    "category": [
                        {
                            "id": f"http://h5p.org/libraries/{content.library}",
                            "objectType": "Activity",
                        }
                    ],
                },
            },
        }
        if kind == K_H5P_SCORED:
            raw, top = int(cols["raw"][row]), int(cols["max"][row])
            centis = int(cols["duration_cs"][row])
            part["result"] = {
                "score": {"min": 0, "max": top, "raw": raw, "scaled": round(raw / top, 4)},
                "completion": True,
                "success": raw / top >= 0.6,
                "duration": iso_duration(centis, long_form=row % 3 == 0),
            }
        return part


def iso_duration(centiseconds: int, long_form: bool) -> str:
    """H5P writes ``PT125.37S``; other tools ``PT2M5.37S``; clients must read both."""
    seconds = centiseconds / 100
    if not long_form:
        return f"PT{seconds:.2f}S"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    return text + f"{rest:.2f}S"


class LrsService:
    """The ``/xAPI`` endpoints: auth, version header, StatementResult paging."""

    def __init__(
        self, store: StatementStore, username: str, password: str, now_ms: Callable[[], int]
    ) -> None:
        self.store = store
        self.username = username
        self.password = password
        self.now_ms = now_ms

    def _headers(self, now_ms: int) -> dict[str, str]:
        """Every statement stored by the clock's now is served, so the LRS is consistent
        through now."""
        return {
            VERSION_HEADER: XAPI_VERSION,
            "X-Experience-API-Consistent-Through": iso_ms(now_ms),
        }

    def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> Response:
        headers = {VERSION_HEADER: XAPI_VERSION, **(extra or {})}
        return JSONResponse({"error": True, "message": message}, status, headers=headers)

    def _check(self, request: Request) -> Response | None:
        given = basic_credentials(request)
        challenge = {"WWW-Authenticate": 'Basic realm="LRS"'}
        if given is None:
            return self._error(401, "HTTP basic authentication is required", challenge)
        user_ok = hmac.compare_digest(given[0], self.username)
        password_ok = hmac.compare_digest(given[1], self.password)
        if not (user_ok and password_ok):
            return self._error(401, "unknown LRS credentials", challenge)
        version = request.headers.get(VERSION_HEADER)
        if version is None:
            return self._error(400, f"the {VERSION_HEADER} header is required")
        if not VERSION_PATTERN.match(version.strip()):
            return self._error(400, f"unsupported {VERSION_HEADER}: {version!r}")
        return None

    async def statements(self, request: Request) -> Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        platform = request.app.state.platform_url
        now_ms = self.now_ms()
        try:
            statement_id = request.query_params.get("statementId")
            if statement_id:
                row = self.store.row_of_statement_id(statement_id, now_ms)
                if row is None:
                    return self._error(404, f"no statement {statement_id}")
                body = self.store.render(row, platform)
                return JSONResponse(body, headers=self._headers(now_ms))
            query, position = self.store.query_from_request(request)
            statements, more = self.store.page(query, position, platform, now_ms)
        except LrsError as error:
            return self._error(error.status, error.message)
        body = {"statements": statements, "more": more}
        return JSONResponse(body, headers=self._headers(now_ms))

    async def about(self, request: Request) -> Response:
        body = {"version": [XAPI_VERSION, "1.0.2", "1.0.1", "1.0.0"], "extensions": {}}
        return JSONResponse(body, headers={VERSION_HEADER: XAPI_VERSION})
