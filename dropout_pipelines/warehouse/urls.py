"""Database URL helpers: every URL that reaches a log, an error or the UI goes through here."""

from __future__ import annotations

import sqlalchemy as sa


def mask_url(url: str | sa.URL) -> str:
    """The URL with its password replaced by `***`, safe to log and to show in errors."""
    try:
        parsed = sa.make_url(url) if isinstance(url, str) else url
    except Exception:  # noqa: BLE001 - an unparsable URL is still never echoed whole
        return "<unparsable database URL>"
    return parsed.render_as_string(hide_password=True)
