"""Templates of messages and documents: every catalogue entry renders, variables are checked,
user text is escaped, PDFs carry the Chinese text and are deterministic.

PDF rendering is the slow part: each document is rendered to PDF once per module (``tpl_pdfs``).
"""
from __future__ import annotations

import copy
import hashlib
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import jinja2
import pypdf  # dev dependency: reads the text back from the PDFs
import pytest
from jinja2 import meta, nodes

from cases.ledger.identifiers import cn_num
from notifications.rendering import filters
from notifications.rendering import render as render_mod
from notifications.rendering.catalog import CATALOG
from notifications.rendering.filters import cn_date, cn_datetime, light, wan_yuan
from notifications.rendering.render import (
    RenderedDocument,
    RenderError,
    TemplateVariableMissing,
    UnknownTemplate,
    render_document,
    render_message,
    required_variables,
    template_names,
)
from tests.data.template_samples import EXPECTED_TEXT, SAMPLES

MESSAGES = [n for n, s in CATALOG.items() if s.is_message]
DOCUMENTS = [n for n, s in CATALOG.items() if s.is_document]
REQUIRED_CASES = [(n, v) for n, s in CATALOG.items() for v in s.required]
SHORT_LIMIT = 300
SCRIPT = "<script>alert('xss')</script>"


def sample(name: str) -> dict:
    return copy.deepcopy(SAMPLES[name])


def squash(text: str) -> str:
    """Remove all whitespace (PDF text extraction breaks lines anywhere)."""
    return re.sub(r"\s+", "", text)


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(BytesIO(data))
    return squash("".join(page.extract_text() or "" for page in reader.pages))


@pytest.fixture(scope="module")
def tpl_pdfs() -> dict[str, RenderedDocument]:
    return {name: render_document(name, sample(name)) for name in DOCUMENTS}


# --------------------------------------------------------------------------------------------
# Catalogue ↔ template files
# --------------------------------------------------------------------------------------------

def _undeclared(env: jinja2.Environment, name: str, seen: set[str]) -> set[str]:
    """Undeclared variables of a template and of every template it extends/imports/includes."""
    if name in seen:
        return set()
    seen.add(name)
    source = env.loader.get_source(env, name)[0]
    ast = env.parse(source)
    found = set(meta.find_undeclared_variables(ast))
    # meta analyses each block as its own scope, so a top-level ``{% import ... as m %}`` used
    # inside blocks looks undeclared there; those names are template modules, not variables.
    found -= {node.target for node in ast.find_all(nodes.Import)}
    found -= {n if isinstance(n, str) else n[1] for node in ast.find_all(nodes.FromImport)
              for n in node.names}
    for ref in meta.find_referenced_templates(ast):
        assert ref is not None, f"{name}: dynamic template reference"
        found |= _undeclared(env, ref, seen)
    return found


def test_template_names_are_the_catalogue():
    assert template_names() == list(CATALOG)
    dirs = {p.name for p in render_mod.TEMPLATE_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert dirs == set(CATALOG)


@pytest.mark.parametrize("name", list(CATALOG))
def test_catalogue_variables_match_templates(name):
    spec = CATALOG[name]
    env = render_mod.environment()
    for f in spec.files:
        assert (render_mod.TEMPLATE_DIR / name / f).is_file(), f"{name}/{f} missing"
    extra = sorted(p.name for p in (render_mod.TEMPLATE_DIR / name).iterdir())
    assert extra == sorted(spec.files), f"{name}: files not in the catalogue"
    used: set[str] = set()
    for f in spec.files:
        used |= _undeclared(env, f"{name}/{f}", set())
    declared = {v.name for v in spec.variables}
    assert used - declared == set(), f"{name}: used but not in catalog.py"
    assert declared - used == set(), f"{name}: in catalog.py but unused"


@pytest.mark.parametrize("name", list(CATALOG))
def test_catalogue_entries_are_documented(name):
    spec = CATALOG[name]
    assert spec.title and re.search(r"[\u4e00-\u9fff]", spec.title)
    assert spec.description
    names = [v.name for v in spec.variables]
    assert len(names) == len(set(names))
    for v in spec.variables:
        assert v.description.strip() and "\n" not in v.description
        assert v.type
    assert spec.is_message or spec.is_document
    assert required_variables(name) == [v.name for v in spec.variables if v.required]
    assert set(SAMPLES[name]) >= set(spec.required), "sample data must cover the required variables"


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", MESSAGES)
def test_render_message(name):
    variables = sample(name)
    msg = render_message(name, variables)
    assert msg.template == name
    assert msg.subject and "\n" not in msg.subject
    assert 0 < len(msg.short_text) <= SHORT_LIMIT, len(msg.short_text)
    assert msg.html.lstrip().startswith("<!DOCTYPE html>")
    assert "<style" not in msg.html and "<link" not in msg.html  # inline CSS only
    link = variables.get("case_url") or variables["dashboard_url"]
    assert link in msg.short_text
    assert link in msg.html
    case_number = variables.get("case_number")
    for text in [*EXPECTED_TEXT[name], *([case_number] if case_number else [])]:
        assert text in msg.short_text + msg.subject, text
        assert text in msg.html, text
    for bad in ("None", "Undefined", "{{", "{%"):
        assert bad not in msg.short_text and bad not in msg.subject and bad not in msg.html


def test_reminder_shows_deadline_and_light():
    msg = render_message("reminder", sample("reminder"))
    # 2026-11-22 15:59:59 UTC is 23:59 in Shanghai.
    assert "2026年11月22日 23时59分" in msg.short_text
    assert "还有2天到期" in msg.short_text
    assert "黄灯" in msg.html
    due_today = render_message("reminder", {**sample("reminder"), "days_left": 0, "light": "red",
                                            "deadline_provisional": True})
    assert "今日到期" in due_today.short_text and "红灯" in due_today.short_text
    assert "暂定" in due_today.short_text
    # a reminder rendered after its day (a task's rung, a late render) never says 今日到期 of a past day
    late = render_message("reminder", {**sample("reminder"), "days_left": -11, "light": "red"})
    for text in (late.subject, late.short_text, late.html):
        assert "今日到期" not in text and "已逾期11天" in text


def test_daily_digest_groups_by_light():
    msg = render_message("daily_digest", sample("daily_digest"))
    assert "红灯2件" in msg.subject and "黄灯2件" in msg.subject
    red = msg.html.index("红灯：已逾期")
    yellow = msg.html.index("黄灯：临近期限")
    assert red < msg.html.index("320508-ZD-2026-000017") < yellow < msg.html.index("320508-WF-2026-000031")
    assert "逾期3天" in msg.html and "今日到期" in msg.html and "剩余1天" in msg.html
    empty = render_message("daily_digest", {**sample("daily_digest"), "cases": []})
    assert "今日无逾期或临期案件" in empty.short_text and "今日无逾期或临期案件" in empty.html


def test_daily_digest_item_field_missing():
    variables = sample("daily_digest")
    del variables["cases"][1]["light"]
    with pytest.raises(TemplateVariableMissing) as exc:
        render_message("daily_digest", variables)
    assert exc.value.variable == "cases[1].light"


LONG_TEXT = ("case_title", "project_name", "location", "hazard_description", "issue_summary",
             "facts", "interview_reason", "interview_place", "attendees_required", "reason",
             "findings", "sequence", "cause_preliminary", "measures_taken", "rectification_summary",
             "task", "next_measure", "stop_scope", "building_name", "building_address",
             "credit_deduction", "criticized_unit", "campaign_name", "reminder_text", "complaint_content",
             "proposal", "listing_reason")


@pytest.mark.parametrize("name", MESSAGES)
def test_short_text_stays_short_with_long_user_text(name):
    """Free text is clipped in short forms, so a six times longer text keeps them short."""
    variables = sample(name)
    for field in LONG_TEXT:
        if isinstance(variables.get(field), str):
            variables[field] = variables[field] * 6
    for item in variables.get("cases", []):
        item["case_title"] *= 6
    msg = render_message(name, variables)
    assert len(msg.short_text) <= SHORT_LIMIT + 20, len(msg.short_text)
    assert "…" in msg.short_text


# --------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", DOCUMENTS)
def test_render_document_html(name):
    variables = sample(name)
    spec = CATALOG[name]
    doc = render_document(name, variables, pdf=False)
    assert doc.pdf == b"" and doc.sha256 == ""
    assert re.search(r"[\u4e00-\u9fff]", doc.title)
    html = doc.html
    assert f"<title>{doc.title}</title>" in html
    assert "@page" in html and "size: A4" in html
    assert "#d40000" in html  # red header
    assert variables["issuing_authority"] in html
    assert variables["doc_number"] in html
    assert f"{variables['recipient']}：" in html
    assert cn_date(variables["issued_at"]) in html  # 落款 date
    assert "（印章）" in html
    assert variables["case_number"] in html
    for text in EXPECTED_TEXT[name]:
        assert text in html, text
    if spec.reply_form:
        assert spec.reply_form in html and 'class="reply-form"' in html
    else:
        assert 'class="reply-form"' not in html
    assert "None" not in html and "Undefined" not in html


@pytest.mark.parametrize("name", DOCUMENTS)
def test_pdf(name, tpl_pdfs):
    doc = tpl_pdfs[name]
    variables = SAMPLES[name]
    assert doc.pdf.startswith(b"%PDF-")
    assert doc.sha256 == hashlib.sha256(doc.pdf).hexdigest()
    text = pdf_text(doc.pdf)
    for needle in [doc.title, variables["issuing_authority"], variables["doc_number"],
                   variables["case_number"], cn_date(variables["issued_at"]), *EXPECTED_TEXT[name]]:
        assert squash(needle) in text, needle
    reader = pypdf.PdfReader(BytesIO(doc.pdf))
    assert reader.metadata.title == doc.title
    assert reader.metadata.creation_date == variables["issued_at"]


CJK_FONTS = ("Noto-Serif-CJK", "Noto-Sans-CJK", "Noto-Sans-Mono-CJK", "WenQuanYi")


@pytest.mark.parametrize("name", DOCUMENTS)
def test_pdf_embeds_cjk_fonts_only(name, tpl_pdfs):
    """Every embedded font is one of the CJK stack: no fallback font, hence no tofu boxes."""
    reader = pypdf.PdfReader(BytesIO(tpl_pdfs[name].pdf))
    fonts = {
        str(font.get_object()["/BaseFont"]).split("+", 1)[-1]
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts, "no fonts embedded"
    assert all(f.startswith(CJK_FONTS) for f in fonts), fonts
    assert any(f.startswith("Noto-Serif-CJK") for f in fonts), "body font should be Noto Serif CJK SC"


def test_pdf_is_deterministic(tpl_pdfs, monkeypatch):
    """Same variables → same bytes. With the fontTools fallback that needs SOURCE_DATE_EPOCH
    (fontTools stamps the current time into fonts), so the test sets it and renders twice."""
    if render_mod.harfbuzz_subsetting():
        first = tpl_pdfs["rectification_notice"]
    else:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", "1763251200")
        first = render_document("rectification_notice", sample("rectification_notice"))
    assert render_mod.pdf_reproducible()
    again = render_document("rectification_notice", sample("rectification_notice"))
    assert again.sha256 == first.sha256
    assert again.pdf == first.pdf
    other = render_document("rectification_notice",
                            {**sample("rectification_notice"), "doc_number": "姑苏建质改〔2026〕38号"})
    assert other.sha256 != first.sha256


def test_stop_work_order_full_stop_title():
    doc = render_document("stop_work_order", {**sample("stop_work_order"), "partial_stop": False}, pdf=False)
    assert doc.title == "责令停工通知书"
    assert "局部" not in doc.html.split("<body>")[1].split("</h1>")[0]


def test_reinspection_passed_needs_no_deadline():
    variables = sample("reinspection_opinion")
    variables["reinspection_passed"] = True
    for k in ("deadline_at", "due_date", "deadline_provisional", "requirements"):
        del variables[k]
    doc = render_document("reinspection_opinion", variables, pdf=False)
    assert "整改合格，予以通过" in doc.html
    msg = render_message("reinspection_opinion", variables)
    assert "整改合格" in msg.short_text and "None" not in msg.short_text


def test_reinspection_failed_needs_the_new_deadline():
    variables = sample("reinspection_opinion")
    del variables["due_date"]
    with pytest.raises(TemplateVariableMissing) as exc:
        render_message("reinspection_opinion", variables)
    assert exc.value.variable == "due_date"
    with pytest.raises(TemplateVariableMissing):
        render_document("reinspection_opinion", variables, pdf=False)


@pytest.mark.parametrize("name", list(CATALOG))
def test_optional_variables_may_be_left_out(name):
    spec = CATALOG[name]
    variables = {k: v for k, v in sample(name).items() if k not in spec.optional}
    if name == "reinspection_opinion":
        variables["reinspection_passed"] = True
    out = []
    if spec.is_message:
        msg = render_message(name, variables)
        out += [msg.short_text, msg.subject, msg.html]
    if spec.is_document:
        out.append(render_document(name, variables, pdf=False).html)
    for text in out:
        assert "None" not in text


def test_dangerous_building_grade_d_alert_and_grade_c():
    doc = render_document("dangerous_building_notice", sample("dangerous_building_notice"), pdf=False)
    assert "D级（整幢危房）" in doc.html and "立即停止使用" in doc.html and "停止使用" in doc.html
    c = render_document("dangerous_building_notice",
                        {**sample("dangerous_building_notice"), "appraisal_grade": "C",
                         "handling_option": "处理使用"}, pdf=False)
    assert "C级（局部危房）" in c.html and "处理使用" in c.html and 'class="alert"' not in c.html


# --------------------------------------------------------------------------------------------
# Missing variables
# --------------------------------------------------------------------------------------------

def _render_all_forms(name: str, variables: dict) -> None:
    spec = CATALOG[name]
    if spec.is_message:
        render_message(name, variables)
    if spec.is_document:
        render_document(name, variables, pdf=False)


@pytest.mark.parametrize(("name", "variable"), REQUIRED_CASES)
def test_missing_required_variable(name, variable):
    spec = CATALOG[name]
    variables = sample(name)
    del variables[variable]
    if spec.is_message:
        with pytest.raises(TemplateVariableMissing) as exc:
            render_message(name, variables)
        assert (exc.value.template, exc.value.variable) == (name, variable)
        assert variable in str(exc.value) and name in str(exc.value)
    if spec.is_document:
        with pytest.raises(TemplateVariableMissing) as exc:
            render_document(name, variables)
        assert (exc.value.template, exc.value.variable) == (name, variable)
    # None counts as missing for required variables.
    with pytest.raises(TemplateVariableMissing):
        _render_all_forms(name, {**sample(name), variable: None})


@pytest.mark.parametrize(("name", "variable"), REQUIRED_CASES)
def test_strict_undefined_catches_what_the_precheck_would(name, variable, monkeypatch):
    """Without the up-front check, Jinja's StrictUndefined still refuses to render."""
    monkeypatch.setattr(render_mod, "_check_variables",
                        lambda spec, variables: {**spec.optional, **variables})
    variables = sample(name)
    del variables[variable]
    with pytest.raises(TemplateVariableMissing) as exc:
        _render_all_forms(name, variables)
    assert exc.value.variable == variable
    assert isinstance(exc.value, RenderError)


def test_unknown_template():
    with pytest.raises(UnknownTemplate):
        render_message("no_such_template", {})
    with pytest.raises(UnknownTemplate):
        render_document("no_such_template", {})
    with pytest.raises(UnknownTemplate):
        required_variables("no_such_template")
    with pytest.raises(UnknownTemplate):
        render_document("reminder", sample("reminder"))  # message only


def test_naive_datetime_is_refused():
    variables = sample("reminder")
    variables["deadline_at"] = datetime(2026, 11, 22, 23, 59)
    with pytest.raises(RenderError, match="naive"):
        render_message("reminder", variables)


# --------------------------------------------------------------------------------------------
# Escaping
# --------------------------------------------------------------------------------------------

USER_TEXT = ("case_title", "project_name", "location", "hazard_description", "issue_summary",
             "facts", "interview_reason", "reason", "findings", "sequence", "rectification_summary",
             "recipient", "recipient_name", "task", "building_name", "property_owner")


def _with_script(name: str) -> dict:
    """Sample variables with a script tag in front of every free-text field."""
    variables = sample(name)
    for field in USER_TEXT:
        if field in variables:
            variables[field] = f"{SCRIPT}{variables[field]}"
    for item in variables.get("cases", []):
        item["case_title"] = f"{SCRIPT}{item['case_title']}"
    return variables


@pytest.mark.parametrize("name", list(CATALOG))
def test_user_text_is_escaped_in_html_only(name):
    variables = _with_script(name)
    spec = CATALOG[name]
    if spec.is_message:
        msg = render_message(name, variables)
        assert "<script" not in msg.html
        assert "&lt;script&gt;" in msg.html
        assert "<script>" in msg.short_text + msg.subject
    if spec.is_document:
        doc = render_document(name, variables, pdf=False)
        assert "<script" not in doc.html
        assert "&lt;script&gt;" in doc.html


def test_user_text_is_escaped_in_pdf():
    variables = _with_script("rectification_notice")
    doc = render_document("rectification_notice", variables)
    assert squash(SCRIPT) in pdf_text(doc.pdf)  # shown as text, not executed or dropped


# --------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------

def test_cn_date_and_datetime():
    assert cn_date(date(2026, 11, 22)) == "2026年11月22日"
    assert cn_date(date(2027, 1, 5)) == "2027年1月5日"
    # 2026-11-21 16:30 UTC is already 22 November in Shanghai.
    instant = datetime(2026, 11, 21, 16, 30, tzinfo=timezone.utc)
    assert cn_date(instant) == "2026年11月22日"
    assert cn_datetime(instant) == "2026年11月22日 00时30分"
    assert cn_datetime(datetime(2026, 11, 22, 6, 30, tzinfo=timezone.utc)) == "2026年11月22日 14时30分"
    with pytest.raises(RenderError):
        cn_datetime(datetime(2026, 11, 22, 14, 30))
    with pytest.raises(RenderError):
        cn_date("2026-11-22")


def test_wan_yuan():
    assert wan_yuan(1_350_000) == "135万元"
    assert wan_yuan(Decimal("1255000")) == "125.5万元"
    assert wan_yuan(12_345) == "1.23万元"
    assert wan_yuan(5_000) == "0.5万元"
    assert wan_yuan(0) == "0万元"
    assert wan_yuan(100_000_000) == "10000万元"
    with pytest.raises(RenderError):
        wan_yuan("lots")


def test_light_and_numbers():
    assert [light(x) for x in ("green", "yellow", "red")] == ["绿灯", "黄灯", "红灯"]
    with pytest.raises(RenderError):
        light("blue")
    assert [cn_num(n) for n in (1, 9, 10, 11, 20, 23, 99)] == ["一", "九", "十", "十一", "二十", "二十三", "九十九"]


def test_accident_grade_names():
    f = filters.accident_grade
    assert f("general") == "一般事故" and f("较大") == "较大事故" and f("重大事故") == "重大事故"
    assert f("especially_major") == "特别重大事故"
    with pytest.raises(RenderError):
        f("minor")


def test_templates_dir_has_no_stray_files():
    root = render_mod.TEMPLATE_DIR
    for path in root.rglob("*"):
        if path.is_file():
            assert path.name.endswith(".j2"), path
    assert isinstance(root, Path)
