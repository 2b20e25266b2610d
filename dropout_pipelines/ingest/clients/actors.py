"""Who an xAPI statement is about: turning an xAPI actor into the warehouse's user key.

Open edX event routing identifies the actor by an anonymous external id by default
(`account.name`; older releases used an `openid` IRI ending in it); deployments switch to
`mbox` (e-mail) or `mbox_sha1sum`, and some customise it to the username. Which one a
deployment uses is configuration, never an assumption: `actor_id` says what to read, and for
external ids a mapping (exported from the LMS's external-id table) says whose id it is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ACTOR_IDS = ("username", "email", "external_id")
EXTERNAL_ID_COLUMNS = ("external_user_id", "external_id", "anonymous_user_id")


class ActorResolver:
    """Maps actors to usernames (or e-mails, for `actor_id="email"`)."""

    def __init__(self, actor_id: str = "username", external_ids: Mapping[str, str] | None = None):
        if actor_id not in ACTOR_IDS:
            raise ValueError(f"actor_id must be one of {ACTOR_IDS}, got {actor_id!r}")
        if actor_id == "external_id" and external_ids is None:
            raise ValueError(
                "actor_id='external_id' needs the external id → username map "
                "(external_ids, or LrsResource.external_id_map_path)"
            )
        self.actor_id = actor_id
        self.external_ids = dict(external_ids or {})
        self.unmapped: set[str] = set()

    def resolve(self, actor: Any) -> str | None:
        """The user key of one actor; None (and remembered in `unmapped`) when unknown."""
        if not isinstance(actor, dict):  # decoded JSON: a dict (faster than the ABC)
            return None
        if self.actor_id == "email":
            key = _mailbox(actor)
        elif self.actor_id == "username":
            key = _account_name(actor)
        else:
            raw = _account_name(actor) or _openid_tail(actor) or _sha1(actor)
            key = self.external_ids.get(raw) if raw else None
            if key is None and raw:
                self.unmapped.add(raw)
        return key


def _account_name(actor: Mapping[str, Any]) -> str | None:
    account = actor.get("account")
    name = account.get("name") if isinstance(account, dict) else None
    return name if isinstance(name, str) and name else None


def _mailbox(actor: Mapping[str, Any]) -> str | None:
    mbox = actor.get("mbox")
    if not isinstance(mbox, str) or not mbox:
        return None
    return mbox.removeprefix("mailto:")


def _openid_tail(actor: Mapping[str, Any]) -> str | None:
    openid = actor.get("openid")
    if not isinstance(openid, str) or not openid:
        return None
    return openid.rstrip("/").rsplit("/", 1)[-1]


def _sha1(actor: Mapping[str, Any]) -> str | None:
    value = actor.get("mbox_sha1sum")
    return value if isinstance(value, str) and value else None


def load_external_id_map(path: str | Path) -> dict[str, str]:
    """External id → username, from a JSON object or a CSV with a header row.

    CSV columns: one of `external_user_id` / `external_id` / `anonymous_user_id`, and
    `username` — what `SELECT e.external_user_id, u.username FROM
    external_user_ids_externalid e JOIN auth_user u ON u.id = e.user_id` exports.
    """
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() == ".json":
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError(f"{file}: expected a JSON object of external id → username")
        return {str(key): str(value) for key, value in document.items()}
    reader = csv.DictReader(text.splitlines())
    fields = reader.fieldnames or []
    id_column = next((name for name in EXTERNAL_ID_COLUMNS if name in fields), None)
    if id_column is None or "username" not in fields:
        raise ValueError(
            f"{file}: the CSV needs a 'username' column and one of {EXTERNAL_ID_COLUMNS}"
        )
    return {row[id_column]: row["username"] for row in reader if row[id_column]}
