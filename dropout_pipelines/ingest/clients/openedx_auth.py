"""The two ways into Open edX APIs: an OAuth2 client-credentials token, or a `sessionid`.

Tokens come from `POST /oauth2/access_token`; edx-platform returns an opaque Bearer token
unless asked for `token_type=jwt`, and only accepts each kind with its own prefix, so the
header prefix follows the `token_type` of the answer. A token is renewed shortly before its
`expires_in` and once after a 401 (an expired or revoked token); a session cannot be renewed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from dropout_pipelines.ingest.clients.errors import (
    OPENEDX_CLIENT_CREDENTIALS,
    OPENEDX_SESSION,
    OpenEdxAuthError,
    PayloadError,
)
from dropout_pipelines.ingest.clients.http import ApiSession
from dropout_pipelines.ingest.clients.urls import api_url, endpoint_of
from dropout_pipelines.ingest.clients.validate import NUMBER, need

TOKEN_PATH = "/oauth2/access_token"
TOKEN_PREFIXES = {"jwt": "JWT", "bearer": "Bearer"}
EXPIRY_LEEWAY_S = 60.0


class OAuthClientCredentials:
    """Client-credentials tokens for one OAuth2 application (a service user with staff)."""

    credential = OPENEDX_CLIENT_CREDENTIALS

    def __init__(
        self,
        session: ApiSession,
        base_url: str,
        client_id: str,
        client_secret: str,
        token_type: str = "jwt",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if token_type.lower() not in TOKEN_PREFIXES:
            raise ValueError(f"token_type must be 'jwt' or 'bearer', got {token_type!r}")
        self._session = session
        self._token_url = api_url(base_url, TOKEN_PATH)
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_type = token_type.lower()
        self._clock = clock
        self._header: str | None = None
        self._renew_at: float | None = None
        self.fetched = 0

    def __repr__(self) -> str:
        return f"OAuthClientCredentials(token_type={self._token_type!r})"

    def headers(self) -> dict[str, str]:
        if self._header is None or (self._renew_at is not None and self._clock() >= self._renew_at):
            self._fetch()
        return {"Authorization": self._header or ""}

    def renew(self) -> bool:
        self._fetch()
        return True

    def secrets(self) -> tuple[str, ...]:
        token = (self._header or "").partition(" ")[2]
        return tuple(s for s in (self._client_secret, token) if s)

    def _fetch(self) -> None:
        """Ask for a new token; a refused client is an OpenEdxAuthError naming the variables."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        if self._token_type == "jwt":
            form["token_type"] = "jwt"
        self._header = None
        document = self._session.post_form(self._token_url, form, on_unauthorized=self._refused)
        endpoint = endpoint_of(self._token_url)
        token = need(document, "access_token", str, endpoint, "")
        kind = need(document, "token_type", str, endpoint, "", optional=True) or self._token_type
        lifetime = need(document, "expires_in", NUMBER, endpoint, "", optional=True)
        prefix = TOKEN_PREFIXES.get(kind.lower())
        if prefix is None:
            raise PayloadError(endpoint, "token_type", f"unknown token type {kind!r}")
        self._header = f"{prefix} {token}"
        self._renew_at = None
        if lifetime is not None:
            leeway = min(EXPIRY_LEEWAY_S, float(lifetime) / 10)
            self._renew_at = self._clock() + float(lifetime) - leeway
        self.fetched += 1

    def _refused(self, endpoint: str, code: str) -> OpenEdxAuthError:
        return OpenEdxAuthError(endpoint, self.credential, f"the token endpoint said {code}")


class SessionCookie:
    """A Django `sessionid` cookie (a staff user's browser session), GET requests only.

    The cookie is bound to the API host in the cookie jar, so no redirect can carry it
    elsewhere. A 401 means the session expired or was logged out: nothing to renew.
    """

    credential = OPENEDX_SESSION

    def __init__(
        self, session: ApiSession, base_url: str, sessionid: str, cookie_name: str = "sessionid"
    ) -> None:
        self._sessionid = sessionid
        host = urlsplit(base_url).hostname or ""
        session.http.cookies.set(cookie_name, sessionid, domain=host, path="/")

    def __repr__(self) -> str:
        return "SessionCookie()"

    def headers(self) -> dict[str, str]:
        return {}

    def renew(self) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return (self._sessionid,)
