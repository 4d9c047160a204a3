"""Every document type, rendered from one realistic scenario (the one ``make samples`` renders,
scripts/samples.py), reads right: every date is a Chinese date, nothing is asked for by a date on
or before the document's own, no phrase or header is printed twice, and each is addressed as its
type says (catalogue ``addressee``).
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cases.platform.clock import to_local
from cases.platform.config import Settings
from cases.models import Case, Document, Enterprise
from notifications.rendering.catalog import CATALOG
from notifications.documents.store import read_stored

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT_TYPES = sorted(n for n, s in CATALOG.items() if s.is_document)
CN_DATE = r"(\d{4})年(\d{1,2})月(\d{1,2})日"
# A date the document asks for: 请于…前 / 应当于…前 / 将于…前, and the dates of the forms.
REQUESTED = re.compile(rf"(?:于{CN_DATE}(?:（[^）]*）)?前|(?:整改期限|办结期限|督办期限|约谈时间){CN_DATE})")
# Records of what happened (a 约谈记录): their form dates (约谈时间) are facts, not requests; a date
# they ask for (于…前) is still checked.
RECORDS = {"interview_record"}
ASKED_ONLY = re.compile(rf"于{CN_DATE}(?:（[^）]*）)?前")
DOUBLED_PHRASES = ("规定的有关规定", "规定的规定", "有关规定有关规定", "的的")


def _load_samples():
    spec = importlib.util.spec_from_file_location("anjian_samples", ROOT / "scripts" / "samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The PDF's text in reading order (poppler's pdftotext), whitespace removed."""
    assert shutil.which("pdftotext"), "poppler-utils is a test dependency (make system-deps)"
    f = tmp_path / "doc.pdf"
    f.write_bytes(data)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(f), "-"], check=True, capture_output=True).stdout
    return re.sub(r"\s+", "", out.decode("utf-8"))


@pytest.fixture
def scenario(db, clock, tmp_path):
    samples = _load_samples()
    sc = samples.Scenario(db, clock, Settings(data_dir=tmp_path / "data", database_url=db.url))
    sc.build_world()
    sc.run(step=timedelta(hours=6))
    sc.render()
    return sc


def _requested_dates(text: str, pattern: re.Pattern = REQUESTED) -> list[date]:
    out = []
    for m in pattern.finditer(text):
        y, mo, d = (int(x) for x in (m.groups()[:3] if m.group(1) else m.groups()[3:]))
        out.append(date(y, mo, d))
    return out


def test_every_document_type_reads_right(scenario, db, tmp_path):
    with db.session() as s:
        docs = list(s.scalars(select(Document).order_by(Document.id)))
        cases = {c.id: c for c in s.scalars(select(Case))}
        enterprises = {e.id: e.name for e in s.scalars(select(Enterprise))}
        s.expunge_all()
    assert {d.doc_type for d in docs} >= set(DOCUMENT_TYPES), "the scenario issues every document type"
    assert all(d.status == "rendered" for d in docs), [(d.number, d.error) for d in docs if d.status != "rendered"]
    expected_addressee = {
        "responsible_unit": lambda c: enterprises[c.enterprise_id],
        "supervised_authority": lambda c: "苏州市姑苏区住房和城乡建设局",
        "parent_authority": lambda c: "苏州市住房和城乡建设局",
        "property_owner": lambda c: "顾某某",
    }
    problems: list[str] = []
    for doc in docs:
        text = pdf_text(read_stored(doc, scenario.settings, "pdf"), tmp_path)
        where = f"{doc.doc_type} {doc.number}"
        issued = to_local(doc.issued_at).date()
        issued_cn = f"{issued.year}年{issued.month}月{issued.day}日"
        if f"{issued_cn}印发" not in text:
            problems.append(f"{where}: no 成文日期 {issued_cn}")
        iso = re.findall(r"\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|(?<![年\d])\d{1,2}月\d{1,2}日", text)
        if iso:
            problems.append(f"{where}: dates not written 2026年11月30日: {iso}")
        for asked in _requested_dates(text, ASKED_ONLY if doc.doc_type in RECORDS else REQUESTED):
            if asked <= issued:
                problems.append(f"{where} (issued {issued}): asks for {asked}, not after its issue date")
        for phrase in DOUBLED_PHRASES:
            if phrase in text:
                problems.append(f"{where}: “{phrase}”")
        # (the 落款 "authority + date" followed by the 版记 "authority + date印发" is the standard layout)
        doubled = [m.group(1) for m in re.finditer(r"(.{6,}?)\1", text)
                   if not text.startswith("印发", m.end()) and not re.fullmatch(r"[　\s_—-]+", m.group(1))]
        if doubled:
            problems.append(f"{where}: printed twice in a row: {doubled}")
        if "（未登记）" in text or "None" in text:
            problems.append(f"{where}: a missing value printed")
        addressee = CATALOG[doc.doc_type].addressee
        # No party of the case (a 移送函's receiving body, cases/referrals): the name entered, as stored.
        name = expected_addressee[addressee](cases[doc.case_id]) if addressee else doc.variables["recipient"]
        if f"{name}：" not in text and f"{name}、" not in text.split("：", 1)[0]:  # first of several addressees
            problems.append(f"{where}: not addressed to {name}")
    assert not problems, "\n".join(problems)
