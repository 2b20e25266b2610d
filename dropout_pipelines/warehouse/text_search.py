"""Case- and accent-insensitive text search, the same on SQLite and MySQL/MariaDB.

An instructor types "nguyen" or "NGUYỄN" and expects every "Nguyễn". MariaDB's utf8mb4
collations already ignore case and most accents, but not "đ" (a letter of its own);
SQLite's LIKE ignores neither. So both sides of the comparison are folded the same way:
`folded(column)` compiles to a registered `fold_text()` on SQLite, and to the column with
đ/Đ replaced on MySQL (its collation does the rest); the pattern is folded in Python.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

SQLITE_FUNCTION = "fold_text"


def fold_text(text: str | None) -> str | None:
    """'Đặng Thị Ánh' → 'dang thi anh': lower case, no diacritics, đ → d."""
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


def register_sqlite_functions(dbapi_connection) -> None:  # noqa: ANN001 - a sqlite3 connection
    dbapi_connection.create_function(SQLITE_FUNCTION, 1, fold_text, deterministic=True)


class folded(FunctionElement):  # noqa: N801 - reads as a SQL function
    """A text column folded for search (see the module docstring)."""

    type = sa.String()
    inherit_cache = True


@compiles(folded, "sqlite")
def _folded_sqlite(element: folded, compiler, **kw) -> str:  # noqa: ANN001
    return f"{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})"


@compiles(folded)
def _folded_default(element: folded, compiler, **kw) -> str:  # noqa: ANN001
    column = compiler.process(element.clauses, **kw)
    return f"REPLACE(REPLACE({column}, 'Đ', 'D'), 'đ', 'd')"
