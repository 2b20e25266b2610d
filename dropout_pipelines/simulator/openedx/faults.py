"""Deterministic fault injection for the simulator: the failures real Open edX / LRS hosts show.

A fault spec is a comma-separated list of ``key=value`` items (the ``--faults`` option)::

    latency=MS[@PREFIX]          add MS milliseconds to every matching request
    rate429=P[@PREFIX]           a fraction P (0 < P <= 1) of matching requests answer
                                 429 with a Retry-After header; the schedule is counted, not
                                 random: the 1st matching request, then every 1/P-th one
    retry_after=S                the Retry-After value in seconds (default 1)
    burst5xx=N[@PREFIX]          N consecutive matching requests fail with a 5xx
                                 (502, 503, 504, 500 in turn), starting with the first
    burst_every=M                start a new burst every M matching requests (default 0: once)
    truncate=PREFIX[#RANGE]      successful JSON responses under PREFIX are cut in half
    wrong_schema=PREFIX[#RANGE]  successful JSON responses under PREFIX keep status 200 but
                                 come back in another envelope (``items`` instead of
                                 ``results``, ``statement_list`` instead of ``statements``)
    token_expires_after=N        an access token is refused from its (N+1)-th authenticated
                                 call on (401, as edx-platform answers an expired token: JWT
                                 "Signature has expired.", Bearer error_code "token_expired")
                                 until the client fetches a new one

    PREFIX  a path prefix such as ``/api/grades`` or ``/xAPI``. Without ``@PREFIX`` a rule
            covers every path except ``/oauth2/`` and ``/simulator/`` (so a client can always
            get a token); name ``@/oauth2`` to fault the token endpoint itself.
    RANGE   which successful responses under PREFIX are hit, counted from 1: ``K``, ``K-L``
            or ``K-`` (from K on). Without a range, every one is hit.

Example: ``latency=20,rate429=0.1,retry_after=1,burst5xx=3,truncate=/api/grades#1,
token_expires_after=5,wrong_schema=/api/enrollment#2``.

Every decision comes from per-rule counters, never from a clock or an unseeded RNG, so a
client that sends the same requests in the same order sees the same faults on every run.
Every matching rule counts every request; when a 5xx burst and a 429 fall on the same request,
the 5xx wins.

Faults can also be switched at runtime (``POST /_sim/faults``, or the running simulator's
``set_faults`` / ``fail_next``): a new spec replaces the plan and restarts its counters, and
``fail_next(N)`` makes exactly the next N data requests (every path except ``/oauth2/``,
``/simulator/`` and ``/_sim/``, or those under a prefix) answer 503 (or another status),
before any rule counts them. The control endpoints under ``/_sim/`` are never faulted.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_PREFIX = "/_sim/"
UNSCOPED_EXEMPT = ("/oauth2/", "/simulator/", CONTROL_PREFIX)
BURST_STATUSES = (502, 503, 504, 500)
# 401: the credentials were rejected (a rotated LRS key, a revoked token) — not retryable.
FAIL_NEXT_STATUSES = (401, 429, 500, 502, 503, 504)
REQUEST_KINDS = ("latency", "rate429", "burst5xx")
RESPONSE_KINDS = ("truncate", "wrong_schema")


class FaultSpecError(ValueError):
    """A fault spec that does not follow the grammar in this module's docstring."""


@dataclass(frozen=True)
class FaultRule:
    """One fault: what it does, how much, and which paths / responses it covers."""

    kind: str
    value: float = 0.0
    prefix: str | None = None
    first: int = 1
    last: int | None = None

    def matches(self, path: str) -> bool:
        """Whether a request path is in this rule's scope."""
        if self.prefix is None:
            return not path.startswith(UNSCOPED_EXEMPT)
        return path.startswith(self.prefix)

    def selects(self, count: int) -> bool:
        """Whether the count-th matching response (1-based) falls in the rule's range."""
        return count >= self.first and (self.last is None or count <= self.last)


@dataclass(frozen=True)
class FaultPlan:
    """A parsed fault spec; immutable so one plan can configure many simulator runs."""

    rules: tuple[FaultRule, ...] = ()
    retry_after_s: int = 1
    burst_every: int = 0
    token_expires_after: int | None = None
    spec: str = ""

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """Parse a ``--faults`` string; raise FaultSpecError naming the offending item."""
        plan = cls(spec=(spec or "").strip())
        for raw in (spec or "").split(","):
            item = raw.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not value:
                raise FaultSpecError(f"fault item {item!r} is not key=value")
            plan = plan._with_item(key, value, item)
        return plan

    def with_latency(self, latency_ms: float) -> FaultPlan:
        """This plan plus a global latency rule (what ``--latency-ms`` adds)."""
        if latency_ms <= 0:
            return self
        spec = ",".join(part for part in (self.spec, f"latency={latency_ms:g}") if part)
        return replace(
            self, rules=(*self.rules, FaultRule("latency", float(latency_ms))), spec=spec
        )

    def _with_item(self, key: str, value: str, item: str) -> FaultPlan:
        if key in REQUEST_KINDS:
            amount, _, prefix = value.partition("@")
            number = _number(amount, item)
            if key == "rate429" and not 0 < number <= 1:
                raise FaultSpecError(f"{item!r}: rate429 must be in (0, 1]")
            if key == "burst5xx" and (number < 1 or number != int(number)):
                raise FaultSpecError(f"{item!r}: burst5xx must be a positive integer")
            if number < 0:
                raise FaultSpecError(f"{item!r}: value must not be negative")
            rule = FaultRule(key, number, _prefix(prefix, item) if prefix else None)
            return replace(self, rules=(*self.rules, rule))
        if key in RESPONSE_KINDS:
            prefix, _, span = value.partition("#")
            first, last = _range(span, item) if span else (1, None)
            rule = FaultRule(key, 0.0, _prefix(prefix, item), first, last)
            return replace(self, rules=(*self.rules, rule))
        if key == "retry_after":
            return replace(self, retry_after_s=_count(value, item, minimum=0))
        if key == "burst_every":
            return replace(self, burst_every=_count(value, item, minimum=0))
        if key == "token_expires_after":
            return replace(self, token_expires_after=_count(value, item, minimum=1))
        known = ", ".join(
            (*REQUEST_KINDS, *RESPONSE_KINDS, "retry_after", "burst_every", "token_expires_after")
        )
        raise FaultSpecError(f"unknown fault {key!r} in {item!r}; known: {known}")


def _number(text: str, item: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise FaultSpecError(f"{item!r}: {text!r} is not a number") from None


def _count(text: str, item: str, minimum: int) -> int:
    try:
        number = int(text)
    except ValueError:
        raise FaultSpecError(f"{item!r}: {text!r} is not an integer") from None
    if number < minimum:
        raise FaultSpecError(f"{item!r}: must be at least {minimum}")
    return number


def _prefix(text: str, item: str) -> str:
    if not text.startswith("/"):
        raise FaultSpecError(f"{item!r}: path prefix {text!r} must start with '/'")
    return text


def _range(span: str, item: str) -> tuple[int, int | None]:
    low, dash, high = span.partition("-")
    first = _count(low, item, minimum=1)
    if not dash:
        return first, first
    if not high:
        return first, None
    last = _count(high, item, minimum=first)
    return first, last


@dataclass
class RequestFault:
    """What the injector decided for one request before it reaches a route."""

    delay_s: float = 0.0
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = "application/json"


@dataclass(frozen=True)
class ArmedFailures:
    """``fail_next``: the next ``count`` matching requests answer ``status``."""

    count: int = 0
    status: int = 503
    prefix: str | None = None

    def matches(self, path: str) -> bool:
        return FaultRule("armed", prefix=self.prefix).matches(path)


class FaultInjector:
    """The mutable counters behind a FaultPlan, one per running simulator.

    Requests count on the event-loop thread while a test may switch faults from its own
    thread, so every change and decision holds one lock.
    """

    def __init__(self, plan: FaultPlan) -> None:
        self._lock = threading.Lock()
        self.plan = plan
        self.armed = ArmedFailures()
        self.reset()

    def reset(self) -> None:
        """Start every schedule again and drop armed failures (between test scenarios)."""
        with self._lock:
            self._restart()

    def replace_plan(self, plan: FaultPlan) -> None:
        """Switch to another plan at runtime (an empty one switches faults off)."""
        with self._lock:
            self.plan = plan
            self._restart()

    def _restart(self) -> None:
        self._seen = [0] * len(self.plan.rules)
        self._credit = [1.0 - rule.value for rule in self.plan.rules]
        self._hit = [0] * len(self.plan.rules)
        self._failed = [0] * len(self.plan.rules)
        self.armed = ArmedFailures()
        self.injected: dict[str, int] = {}

    def fail_next(self, count: int, status: int = 503, prefix: str | None = None) -> None:
        """Make exactly the next ``count`` matching requests fail (0 disarms)."""
        if count < 0:
            raise FaultSpecError(f"fail_next: count must not be negative, got {count}")
        if status not in FAIL_NEXT_STATUSES:
            raise FaultSpecError(f"fail_next: status must be one of {FAIL_NEXT_STATUSES}")
        if prefix is not None:
            _prefix(prefix, f"prefix={prefix}")
        with self._lock:
            self.armed = ArmedFailures(count, status, prefix)

    def before(self, path: str) -> RequestFault:
        """Count the request against every matching rule; say whether it fails early.

        An armed failure comes first and stops there (no rule counts that request). Every
        matching rule counts the request, whatever the others decide; a 5xx burst wins
        over a 429, so ``burst5xx=3`` always means the first three requests fail with 5xx.
        """
        with self._lock:
            return self._before(path)

    def _before(self, path: str) -> RequestFault:
        fault = RequestFault()
        armed = self.armed
        if armed.count > 0 and armed.matches(path):
            self.armed = replace(armed, count=armed.count - 1)
            fault.status = armed.status
            if armed.status == 429:
                fault.headers["Retry-After"] = str(self.plan.retry_after_s)
                fault.body = _throttled_body(self.plan.retry_after_s)
            else:
                fault.body, fault.content_type = _error_body(armed.status)
            self._record(str(fault.status))
            return fault
        burst: int | None = None
        throttled = False
        for index, rule in enumerate(self.plan.rules):
            if rule.kind not in REQUEST_KINDS or not rule.matches(path):
                continue
            self._seen[index] += 1
            if rule.kind == "latency":
                fault.delay_s += rule.value / 1000.0
            elif rule.kind == "burst5xx":
                if burst is None and self._in_burst(rule, self._seen[index]):
                    burst = BURST_STATUSES[self._failed[index] % len(BURST_STATUSES)]
                    self._failed[index] += 1
            elif rule.kind == "rate429":
                self._credit[index] += rule.value
                if self._credit[index] >= 1.0 - 1e-9:
                    self._credit[index] -= 1.0
                    throttled = True
        if burst is not None:
            fault.status = burst
            fault.body, fault.content_type = _error_body(burst)
        elif throttled:
            fault.status = 429
            fault.headers["Retry-After"] = str(self.plan.retry_after_s)
            fault.body = _throttled_body(self.plan.retry_after_s)
        if fault.status is not None:
            self._record(str(fault.status))
        return fault

    def after(self, path: str) -> str | None:
        """For a successful JSON response: the response fault to apply, if any."""
        with self._lock:
            return self._after(path)

    def _after(self, path: str) -> str | None:
        chosen = None
        for index, rule in enumerate(self.plan.rules):
            if rule.kind not in RESPONSE_KINDS or not rule.matches(path):
                continue
            self._hit[index] += 1
            if chosen is None and rule.selects(self._hit[index]):
                chosen = rule.kind
        if chosen:
            self._record(chosen)
        return chosen

    def _in_burst(self, rule: FaultRule, seen: int) -> bool:
        size = int(rule.value)
        if self.plan.burst_every > 0:
            return (seen - 1) % self.plan.burst_every < size
        return seen <= size

    def _record(self, what: str) -> None:
        self.injected[what] = self.injected.get(what, 0) + 1


def _throttled_body(wait: int) -> bytes:
    unit = "second" if wait == 1 else "seconds"
    detail = f"Request was throttled. Expected available in {wait} {unit}."
    return json.dumps({"detail": detail}).encode()


def _error_body(status: int) -> tuple[bytes, str]:
    """Gateways answer 502/504 with HTML, the app itself 500/503 with JSON, as in production."""
    if status in (502, 504):
        title = "502 Bad Gateway" if status == 502 else "504 Gateway Time-out"
        html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return html.encode(), "text/html"
    message = {401: "Invalid credentials.", 503: "Service Unavailable"}.get(
        status, "Internal Server Error"
    )
    return json.dumps({"detail": message}).encode(), "application/json"


def reshape_wrong_schema(body: bytes) -> bytes:
    """Re-envelope a JSON document the way a misbehaving proxy or fork might."""
    document = json.loads(body)
    if isinstance(document, dict) and "results" in document:
        pagination = document.get("pagination") or {}
        following = document.get("next", pagination.get("next"))
        return json.dumps({"items": document["results"], "links": {"next": following}}).encode()
    if isinstance(document, dict) and "statements" in document:
        reshaped = {"statement_list": document["statements"], "next": document.get("more")}
        return json.dumps(reshaped).encode()
    return json.dumps({"data": document}).encode()


def truncate_body(body: bytes) -> bytes:
    """Cut a JSON document in half so it no longer parses (a dropped connection's leftovers)."""
    return body[: max(1, len(body) // 2)]


class FaultMiddleware:
    """ASGI middleware applying a FaultInjector around every HTTP request."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.injector.before(path)
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.status is not None:
            await _send_bytes(send, fault.status, fault.body, fault.content_type, fault.headers)
            return
        if not any(rule.kind in RESPONSE_KINDS for rule in self.injector.plan.rules):
            await self.app(scope, receive, send)
            return
        await self._buffered(scope, receive, send, path)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        is_json = any(k.lower() == b"content-type" and b"json" in v for k, v in headers)
        if start.get("status") == 200 and is_json:
            chosen = self.injector.after(path)
            if chosen == "truncate":
                body = truncate_body(body)
            elif chosen == "wrong_schema":
                body = reshape_wrong_schema(body)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _send_bytes(
    send: Send, status: int, body: bytes, content_type: str, extra: dict[str, str]
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in extra.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
