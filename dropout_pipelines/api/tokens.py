"""API tokens: kept hashed at rest, compared in constant time.

`DROPOUT_API_TOKENS` holds comma-separated entries `NAME:sha256:HEX`, one per instructor or
client; NAME is recorded with the feedback that token gives. A token is 32 random bytes, so
a plain SHA-256 is enough (no password-style stretching needed), and the environment never
holds a usable token. `python -m dropout_pipelines.api.tokens NAME` makes one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass

TOKENS_ENV = "DROPOUT_API_TOKENS"
HASH_SCHEME = "sha256"
_ENTRY = re.compile(r"(?P<name>[A-Za-z0-9._@-]{1,64}):sha256:(?P<digest>[0-9a-f]{64})\Z")


class TokenConfigError(ValueError):
    """DROPOUT_API_TOKENS is malformed (the message never repeats an entry's hash)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_entry(name: str, token: str) -> str:
    """The DROPOUT_API_TOKENS entry for `token` (what to store; the token itself is not)."""
    entry = f"{name}:{HASH_SCHEME}:{token_digest(token)}"
    if not _ENTRY.match(entry):
        raise TokenConfigError(f"token name {name!r}: use 1-64 letters, digits, . _ @ -")
    return entry


@dataclass(frozen=True)
class TokenBook:
    """The accepted tokens, as (name, digest) pairs."""

    entries: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, text: str | None) -> TokenBook:
        entries = []
        for position, raw in enumerate((text or "").split(","), start=1):
            raw = raw.strip()
            if not raw:
                continue
            match = _ENTRY.match(raw)
            if match is None:
                raise TokenConfigError(
                    f"{TOKENS_ENV} entry {position} is not NAME:sha256:HEX (64 lowercase hex "
                    "digits); make one with `python -m dropout_pipelines.api.tokens NAME`"
                )
            entries.append((match["name"], bytes.fromhex(match["digest"])))
        return cls(tuple(entries))

    @classmethod
    def of(cls, tokens: dict[str, str]) -> TokenBook:
        """A book of plain tokens by name (tests and a one-off `make serve` token)."""
        return cls.parse(",".join(token_entry(name, token) for name, token in tokens.items()))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def holder(self, token: str | None) -> str | None:
        """The name of the token's holder, or None. Every entry is compared (in constant
        time), so the time taken does not tell how close a guess came."""
        if not token:
            return None
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found = None
        for name, expected in self.entries:
            if hmac.compare_digest(digest, expected) and found is None:
                found = name
        return found


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m dropout_pipelines.api.tokens NAME", file=sys.stderr)
        return 2
    token = new_token()
    try:
        entry = token_entry(args[0], token)
    except TokenConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"token (give it to {args[0]}; it is not stored anywhere): {token}")
    print(f"add to {TOKENS_ENV}: {entry}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
