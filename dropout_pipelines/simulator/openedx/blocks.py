"""``GET /api/courses/v2/blocks/`` — the course outline as Open edX's Course Blocks API serves
it to a staff user: `{"root": usage_key, "blocks": {usage_key: block}}`, each block with
`id`, `block_id`, `type`, `display_name`, `children` and the requested `graded`, `format`
(the assignment type of a graded subsection), `due` and `weight` (a problem's points).

The outline: one chapter per graded subsection (its units, videos and problems under it),
plus an ungraded welcome chapter holding the H5P activities. Problem and unit ids are the
ones the LRS statements carry, so a client can join the two.
"""

from __future__ import annotations

from datetime import timedelta

from dropout_pipelines.simulator.openedx.activity import PROBLEMS_PER_SUBSECTION_MAX
from dropout_pipelines.simulator.openedx.catalog import UNIT_FRACS, VIDEO_FRACS, CourseInfo
from dropout_pipelines.simulator.openedx.serializers import iso

BLOCK_FIELDS = ("graded", "format", "due", "weight")


def _block(info: CourseInfo, base: str, block_type: str, slug: str, name: str, **extra) -> dict:
    usage_key = info.block_id(block_type, slug)
    return {
        "id": usage_key,
        "block_id": slug,
        "type": block_type,
        "display_name": name,
        "lms_web_url": f"{base}/courses/{info.course_id}/jump_to/{usage_key}",
        "student_view_url": f"{base}/xblock/{usage_key}",
        "graded": extra.pop("graded", False),
        "format": extra.pop("format", None),
        "due": extra.pop("due", None),
        "weight": extra.pop("weight", None),
        "children": extra.pop("children", []),
    }


def _when(info: CourseInfo, fraction: float) -> str:
    return iso(info.start + timedelta(seconds=(info.end - info.start).total_seconds() * fraction))


def blocks_json(info: CourseInfo, base: str, requested: set[str]) -> dict:
    """The whole outline (`depth=all`), with only the requested optional fields."""
    blocks: dict[str, dict] = {}
    chapters = []
    units = [
        _block(info, base, "vertical", f"unit{k + 1:02d}", f"Unit {k + 1}")
        for k in range(len(UNIT_FRACS))
    ]
    videos = [
        _block(info, base, "video", f"video{k + 1:02d}", f"Video {k + 1}")
        for k in range(len(VIDEO_FRACS))
    ]
    h5p = [_block(info, base, "h5pxblock", c.slug, c.title) for c in info.h5p]
    welcome = _block(
        info, base, "chapter", "welcome", "Giới thiệu khóa học",
        children=[b["id"] for b in units + videos + h5p],
    )  # fmt: skip
    chapters.append(welcome)
    for block in (*units, *videos, *h5p):
        blocks[block["id"]] = block
    for sub in info.subsections:
        problems = [
            _block(
                info, base, "problem", f"{sub.slug}_p{j + 1}",
                f"{sub.display_name} – câu {j + 1}", graded=True, format=sub.assignment_type,
                weight=float(points),
            )
            for j, points in enumerate(sub.problem_points[:PROBLEMS_PER_SUBSECTION_MAX])
        ]  # fmt: skip
        sequential = _block(
            info, base, "sequential", sub.slug, sub.display_name, graded=True,
            format=sub.assignment_type, due=_when(info, sub.due_frac),
            children=[p["id"] for p in problems],
        )  # fmt: skip
        chapter = _block(
            info, base, "chapter", f"ch_{sub.slug}", sub.display_name,
            children=[sequential["id"]],
        )  # fmt: skip
        chapters.append(chapter)
        for block in (*problems, sequential):
            blocks[block["id"]] = block
    root = _block(
        info, base, "course", "course", info.display_name, children=[c["id"] for c in chapters]
    )
    for block in (root, *chapters):
        blocks[block["id"]] = block
    for block in blocks.values():
        for field in BLOCK_FIELDS:
            if field not in requested:
                block.pop(field, None)
    return {"root": root["id"], "blocks": blocks}
