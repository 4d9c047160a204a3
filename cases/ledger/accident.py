"""Accident grades (生产安全事故报告和调查处理条例, 国务院令493, Art. 3).

The grade is the highest band reached by any of deaths, serious injuries and direct loss.
"以上" includes the bound, "以下" excludes it.
"""
from __future__ import annotations

GRADES = ("ordinary", "larger", "major", "especially_major")  # mildest first
GRADE_LABELS = {"ordinary": "一般事故", "larger": "较大事故", "major": "重大事故", "especially_major": "特别重大事故"}

# (grade, min deaths, min serious injuries, min direct loss in CNY) — highest first.
_BANDS = (
    ("especially_major", 30, 100, 100_000_000),
    ("major", 10, 50, 50_000_000),
    ("larger", 3, 10, 10_000_000),
    ("ordinary", 1, 1, 1_000_000),  # 住建 practice: property-only loss under 1M is not a 房屋市政 accident
)


def accident_grade(deaths: int, serious_injuries: int, direct_loss: float) -> str | None:
    """The grade, or None when the event is below the 房屋市政 accident threshold."""
    for grade, d, s, loss in _BANDS:
        if deaths >= d or serious_injuries >= s or direct_loss >= loss:
            return grade
    return None


def grade_rank(grade: str | None) -> int:
    return GRADES.index(grade) if grade in GRADES else -1
