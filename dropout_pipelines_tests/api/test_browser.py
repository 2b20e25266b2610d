"""The instructor page in a real browser (Debian's headless chromium over CDP): sign in with
a token, pick a course, search, open a student, see the risk chart, give feedback, and keep
a screenshot under `test-output/browser/`. Chromium is required, not optional: `make test`
installs it with apt, and without it this test fails saying so."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.text_search import fold_text
from dropout_pipelines_tests.api.conftest import HOSTILE_COURSE, TOKENS, UNPREDICTED, XSS_NAME
from dropout_pipelines_tests.support.browser import chromium

SCREENSHOTS = PROJECT_ROOT / "test-output" / "browser"
ROWS = "#students tbody tr"


def _names(engine: sa.Engine) -> dict[int, str]:
    e = s.enrollments
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(e.c.user_id, e.c.full_name).where(e.c.course_id == HOSTILE_COURSE)
        )
        return {row.user_id: row.full_name for row in rows}


def _table(browser) -> list[dict]:
    return browser.evaluate(
        f"""[...document.querySelectorAll({json.dumps(ROWS)})].map(row => ({{
            user: Number(row.dataset.userId),
            name: row.cells[0].firstChild.textContent,
            risk: Number(row.cells[1].textContent),
            level: row.cells[2].textContent,
        }}))"""
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_instructor_signs_in_and_reads_a_student(served):
    names = _names(served.engine)
    with chromium() as browser:
        browser.navigate(f"{served.base}/")
        browser.type("#token", "not-a-token")
        browser.click("#sign-in")
        browser.wait_for("document.querySelector('#message').textContent.includes('not accepted')")
        assert browser.evaluate("document.querySelector('#dashboard').hidden") is True

        browser.type("#token", TOKENS["co.tran"])
        browser.click("#sign-in")
        browser.wait_for(
            "[...document.querySelectorAll('#course option')]"
            f".some(option => option.value === {json.dumps(HOSTILE_COURSE)})"
        )
        browser.type("#course", HOSTILE_COURSE)  # picks it (change event)
        browser.wait_for(f"document.querySelectorAll({json.dumps(ROWS)}).length === 50")
        assert "Học máy 101" in browser.evaluate("document.querySelector('#course').innerText")
        stats = browser.evaluate("document.querySelector('#stats').innerText")
        assert "60" in stats and "not predicted yet" in stats

        rows = _table(browser)
        risks = [row["risk"] for row in rows]
        assert risks == sorted(risks, reverse=True)
        assert all(row["name"] == names[row["user"]] for row in rows)  # Vietnamese, exactly
        # Every row on every page: the placeholders say so, the HTML-looking name is text.
        browser.click("#next")
        browser.wait_for(f"document.querySelectorAll({json.dumps(ROWS)}).length === 10")
        everyone = rows + _table(browser)
        assert sum(row["level"] == "no prediction yet" for row in everyone) == UNPREDICTED
        assert XSS_NAME in {row["name"] for row in everyone}
        assert browser.evaluate("document.querySelectorAll('#students img').length") == 0
        browser.click("#prev")
        browser.wait_for(f"document.querySelectorAll({json.dumps(ROWS)}).length === 50")

        family = fold_text(names[7].split()[0])  # typed without accents
        browser.type("#search", family)
        expected = {user for user, name in names.items() if family in fold_text(name)}
        browser.wait_for(
            f"document.querySelectorAll({json.dumps(ROWS)}).length === {min(len(expected), 50)}"
        )
        assert {row["user"] for row in _table(browser)} <= expected
        browser.type("#search", "")
        browser.wait_for(f"document.querySelectorAll({json.dumps(ROWS)}).length === 50")

        flagged = rows[0]
        assert flagged["level"] == "HIGH"  # the data holds flagged students
        medium = next(row for row in rows if row["level"] == "MEDIUM")
        browser.click(f'#students tbody tr[data-user-id="{medium["user"]}"]')
        medium_name = json.dumps(names[medium["user"]])
        browser.wait_for(f"document.querySelector('#student-name').textContent === {medium_name}")
        # Only a flagged student gets the feedback buttons.
        assert (
            browser.evaluate("getComputedStyle(document.querySelector('#feedback')).display")
            == "none"
        )
        browser.click(f'#students tbody tr[data-user-id="{flagged["user"]}"]')
        flagged_name = json.dumps(names[flagged["user"]])
        browser.wait_for(f"document.querySelector('#student-name').textContent === {flagged_name}")
        assert browser.evaluate("!document.querySelector('#student-panel').hidden")
        assert browser.evaluate("document.querySelectorAll('#timeline svg circle').length") == 2
        titles = browser.evaluate(
            "[...document.querySelectorAll('#timeline svg circle title')].map(t => t.textContent)"
        )
        assert len(titles) == 2 and all("fm101 v1" in title for title in titles)
        assert (
            browser.evaluate("document.querySelectorAll('#timeline-points tbody tr').length") == 2
        )
        assert browser.evaluate("document.querySelectorAll('#reasons li').length") >= 1
        assert (
            browser.evaluate("getComputedStyle(document.querySelector('#feedback')).display")
            != "none"
        )
        browser.click("#useful")
        browser.wait_for("document.querySelector('#feedback-state').textContent.includes('useful')")
        with served.engine.connect() as connection:
            saved = connection.execute(sa.select(s.prediction_feedback)).mappings().all()
        assert [(row["user_id"], bool(row["useful"]), row["given_by"]) for row in saved] == [
            (flagged["user"], True, "co.tran")
        ]
        # The comparison below the list counts it.
        browser.wait_for("document.querySelector('#models tbody tr').cells[5].textContent === '1'")
        shot = browser.screenshot(SCREENSHOTS / "instructor_page.png")
        assert browser.errors == []
    assert shot.stat().st_size > 10_000
