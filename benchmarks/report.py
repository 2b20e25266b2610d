"""What every benchmark shares: aligned and Markdown tables, the machine line, progress on
stderr, and the small argument parsers of their command lines."""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager


def progress_printer(name: str) -> Callable[[str], None]:
    """Progress goes to stderr so stdout holds only the results (easy to paste or parse)."""

    def progress(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    return progress


@contextmanager
def timed(progress: Callable[[str], None], label: str) -> Iterator[None]:
    """Report how long a preparation step took: slow set-up is worth seeing, not measuring."""
    started = time.perf_counter()
    progress(f"{label} ...")
    yield
    progress(f"{label}: {time.perf_counter() - started:.2f} s")


def backend_list(allowed: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: a comma-separated subset of `allowed`."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown backend(s) {unknown or text!r}: choose from {', '.join(allowed)}"
            )
        return names

    return parse


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
    return value


def _numeric(cell: str) -> bool:
    return cell[:1].isdigit()


def plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned so digits line up."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str], align_numbers: bool) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=True):
            right = align_numbers and _numeric(cell)
            out.append(cell.rjust(width) if right else cell.ljust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header, False), rule, *(line(row, True) for row in rows)])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The same table for a PR or a README (numbers right-aligned)."""
    numeric = [bool(rows) and all(_numeric(row[i]) for row in rows) for i in range(len(header))]
    align = ["---:" if is_number else "---" for is_number in numeric]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


Section = tuple[str, Sequence[str], Sequence[Sequence[str]]]
"""A report section: its title, header and rows."""


def render_sections(sections: Sequence[Section], notes: Sequence[str] = (), note: str = "") -> str:
    """The report: `note` first, every section as an aligned table, the notes; then the same
    sections as Markdown (for a PR or the README) followed by the notes again."""
    out = [note, ""] if note else []
    for title, header, rows in sections:
        out += [title, plain_table(header, rows), ""]
    if notes:
        out += ["Notes", *notes, ""]
    out += ["Markdown:", ""]
    for title, header, rows in sections:
        out += [f"**{title}**", "", markdown_table(header, rows), ""]
    out += [*notes, ""]
    return "\n".join(out).rstrip() + "\n"


def machine_note(load_before: float, load_after: float) -> str:
    """CPUs and load: a ratio measured while other work competes for the CPUs is noisier."""
    return (
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; 1-min load average {load_before:.1f} at start, "
        f"{load_after:.1f} at end (both numbers of a ratio come from the same run either way)."
    )
