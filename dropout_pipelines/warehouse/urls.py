"""Database URL helpers: every URL that reaches a log, an error or the UI goes through here.

A password can sit in two places of a URL: the userinfo (`user:secret@host`) and the query
string (`?password=secret`, which the MySQL drivers accept as a connect argument). Both
are found and masked here, so no caller has to remember the second one.
"""

from __future__ import annotations

import sqlalchemy as sa

# Query keys the MySQL drivers read as the password (pymysql takes both spellings).
PASSWORD_QUERY_KEYS = ("password", "passwd")
MASK = "***"
_PLACEHOLDER = "MASKEDPASSWORD"  # survives URL-encoding, swapped for MASK after rendering


def _parsed(url: str | sa.URL) -> sa.URL:
    return sa.make_url(url) if isinstance(url, str) else url


def _query_passwords(url: sa.URL) -> list[str]:
    values: list[str] = []
    for key in PASSWORD_QUERY_KEYS:
        value = url.query.get(key)
        if value:
            values.extend([value] if isinstance(value, str) else value)
    return values


def url_passwords(url: str | sa.URL) -> list[str]:
    """Every password the URL holds (userinfo and query string); empty when it holds none."""
    try:
        parsed = _parsed(url)
    except Exception:  # noqa: BLE001 - an unparsable URL has no password to find
        return []
    found = [parsed.password] if parsed.password else []
    return [str(value) for value in found] + _query_passwords(parsed)


def has_password(url: str | sa.URL) -> bool:
    return bool(url_passwords(url))


def mask_url(url: str | sa.URL) -> str:
    """The URL with its passwords (userinfo and `?password=`) replaced by `***`, safe to
    log and to show in errors."""
    try:
        parsed = _parsed(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is still never echoed whole
        return "<unparsable database URL>"
    masked_query = {key: _PLACEHOLDER for key in PASSWORD_QUERY_KEYS if key in parsed.query}
    if masked_query:
        parsed = parsed.update_query_dict(masked_query)
    return parsed.render_as_string(hide_password=True).replace(_PLACEHOLDER, MASK)
