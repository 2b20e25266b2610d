"""URL handling shared by the Open edX and LRS clients.

Course ids carry characters that mean something in URLs (`course-v1:ORG+CODE+RUN`; old-style
`ORG/CODE/RUN`; `.`, `~`, `-`, `_` in codes). A literal `+` in a query string decodes to a
space on the server, so ids are always percent-encoded. Paging links are followed whatever
host the server wrote into them, but credentials only ever go to the configured host.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

# `/` stays literal: edx-platform's course-key URL pattern accepts old-style ids with their
# slashes, while `%2F` is rejected by some proxies. `:` is a legal path character.
PATH_SAFE = "/:"


def course_path_segment(course_id: str) -> str:
    """A course id for a URL path (`+` → `%2B`, `'` → `%27`; `/` and `:` kept)."""
    return quote(course_id, safe=PATH_SAFE)


def api_url(base_url: str, path: str) -> str:
    """`path` (already encoded, starting with `/`) under the API root `base_url`."""
    return base_url.rstrip("/") + path


def endpoint_of(url: str) -> str:
    """The readable path of a URL, for messages: no host, query, fragment or credentials."""
    return unquote(urlsplit(url).path) or "/"


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, without any user:password part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def strip_userinfo(url: str) -> str:
    """The URL without `user:password@` (for repr and messages)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, origin_of(url).split("://", 1)[1], *parts[2:]))


def rebase_link(link: str, base_url: str) -> str:
    """Resolve a paging link against the configured server and keep it on that server.

    Relative links (the xAPI `more` IRL, which excludes scheme, host and port) resolve
    against `base_url`. Absolute links that name another scheme or host keep their path and
    query but go to the configured origin: behind a TLS-terminating proxy Django writes
    `http://` (or an internal host name) into `next`, and the token must not follow it there.
    """
    target = urljoin(base_url, link)
    parts = urlsplit(target)
    base = urlsplit(base_url)
    if (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
        return target
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def with_query_param(url: str, name: str, value: str | int) -> str:
    """`url` with one query parameter set (used to build page-number links)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, str(value)))
    return urlunsplit((*parts[:3], urlencode(query), parts.fragment))
