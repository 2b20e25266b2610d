"""Authentication as an Open edX LMS and an LRS perform it.

The LMS side issues OAuth2 client-credentials tokens at ``/oauth2/access_token``: an opaque
Bearer token by default, a signed JWT when the request says ``token_type=jwt``. A token is
only accepted with the prefix of its kind (``JWT …`` or ``Bearer …``), as edx-platform's two
authentication classes do, and a Django ``sessionid`` cookie is the other way in. Staff-only
APIs answer 401 without credentials and 403 for a non-staff account. The LRS uses HTTP basic
auth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from dropout_pipelines.simulator.openedx.config import Credentials

OAUTH_SCOPES = "read write email profile"
JWT_LIFETIME_S = 3600


class AuthError(Exception):
    """An authentication or permission failure, with the JSON body edx-platform sends."""

    def __init__(self, status: int, body: dict, challenge: str | None = None) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.challenge = challenge


NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}


@dataclass(frozen=True)
class Principal:
    """Who is calling, and whether they are staff (global staff on the LMS)."""

    username: str
    is_staff: bool
    via: str


@dataclass
class IssuedToken:
    principal: Principal
    kind: str
    expires_at: float
    calls: int = 0


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LmsAuth:
    """Token issue and request authentication for one running simulator."""

    def __init__(
        self,
        credentials: Credentials,
        seed: int,
        token_lifetime_s: int,
        token_call_limit: int | None,
    ) -> None:
        self.credentials = credentials
        self.token_lifetime_s = token_lifetime_s
        self.token_call_limit = token_call_limit
        self._jwt_key = hashlib.sha256(f"simulator-jwt-{seed}".encode()).digest()
        self._tokens: dict[str, IssuedToken] = {}
        self._clients = {
            credentials.client_id: (
                credentials.client_secret,
                Principal("dropout-service", True, "oauth2"),
            ),
            credentials.learner_client_id: (
                credentials.learner_client_secret,
                Principal("learner", False, "oauth2"),
            ),
        }
        self._sessions = {
            credentials.sessionid: Principal("dropout-staff", True, "session"),
            credentials.learner_sessionid: Principal("learner", False, "session"),
        }

    def issue(self, form: dict[str, str], basic: tuple[str, str] | None, issuer: str) -> dict:
        """The ``/oauth2/access_token`` response for a client-credentials request."""
        if form.get("grant_type") != "client_credentials":
            raise AuthError(400, {"error": "unsupported_grant_type"})
        client_id, client_secret = basic or (form.get("client_id"), form.get("client_secret"))
        known = self._clients.get(client_id or "")
        if known is None or not hmac.compare_digest(known[0], client_secret or ""):
            raise AuthError(401, {"error": "invalid_client"})
        principal = known[1]
        if (form.get("token_type") or "").lower() == "jwt":
            lifetime = min(self.token_lifetime_s, JWT_LIFETIME_S)
            token = self._sign_jwt(principal, issuer, lifetime)
            kind, token_type = "jwt", "JWT"
        else:
            lifetime = self.token_lifetime_s
            token = secrets.token_urlsafe(24)
            kind, token_type = "bearer", "Bearer"
        self._tokens[token] = IssuedToken(principal, kind, time.time() + lifetime)
        return {
            "access_token": token,
            "expires_in": lifetime,
            "token_type": token_type,
            "scope": OAUTH_SCOPES,
        }

    def authenticate(self, request: Request) -> Principal | None:
        """The caller, None when anonymous; AuthError for credentials that do not work."""
        header = request.headers.get("authorization")
        if header:
            prefix, _, token = header.partition(" ")
            return self._check_token(prefix.strip().lower(), token.strip())
        session = request.cookies.get("sessionid")
        if session:
            principal = self._sessions.get(session)
            if principal is None:
                # Django treats an unknown session as anonymous.
                return None
            return principal
        return None

    def require_staff(self, request: Request) -> Principal:
        """Authenticate and insist on staff, as the grades/enrollment list APIs do."""
        principal = self.authenticate(request)
        if principal is None:
            raise AuthError(401, NOT_PROVIDED, 'JWT realm="api"')
        if not principal.is_staff:
            raise AuthError(403, FORBIDDEN)
        return principal

    def _check_token(self, prefix: str, token: str) -> Principal:
        issued = self._tokens.get(token)
        if prefix == "jwt":
            if issued is None or issued.kind != "jwt" or not self._valid_jwt(token):
                raise AuthError(401, {"detail": "Error decoding token."}, 'JWT realm="api"')
        elif prefix == "bearer":
            if issued is None or issued.kind != "bearer":
                raise AuthError(
                    401,
                    {
                        "error_code": "token_nonexistent",
                        "developer_message": "The provided access token does not match any "
                        "valid tokens.",
                    },
                    'Bearer realm="api"',
                )
        else:
            raise AuthError(401, {"detail": "Invalid Authorization header."}, 'JWT realm="api"')
        issued.calls += 1
        over_limit = self.token_call_limit is not None and issued.calls > self.token_call_limit
        if over_limit or time.time() >= issued.expires_at:
            if issued.kind == "jwt":
                raise AuthError(401, {"detail": "Signature has expired."}, 'JWT realm="api"')
            raise AuthError(
                401,
                {
                    "error_code": "token_expired",
                    "developer_message": "The provided access token has expired and is no "
                    "longer valid.",
                },
                'Bearer realm="api"',
            )
        return issued.principal

    def _sign_jwt(self, principal: Principal, issuer: str, lifetime: int) -> str:
        now = int(time.time())
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "iss": issuer,
            "aud": "openedx",
            "sub": hashlib.sha1(principal.username.encode()).hexdigest(),
            "preferred_username": principal.username,
            "administrator": principal.is_staff,
            "scopes": OAUTH_SCOPES.split(),
            "filters": [],
            "version": "1.2.0",
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = hmac.new(self._jwt_key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    def _valid_jwt(self, token: str) -> bool:
        try:
            signing_input, _, signature = token.rpartition(".")
            expected = hmac.new(self._jwt_key, signing_input.encode(), hashlib.sha256).digest()
            return hmac.compare_digest(expected, _b64url_decode(signature))
        except (ValueError, TypeError):
            return False


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The (user, password) of an ``Authorization: Basic …`` header, if there is one."""
    header = request.headers.get("authorization", "")
    prefix, _, encoded = header.partition(" ")
    if prefix.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
