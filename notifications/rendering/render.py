"""Render messages (short text + e-mail) and official documents (printable HTML + PDF).

Templates live in ``notifications/templates/<type>/`` (see ``catalog.py`` and ``docs/templates.md``).
Rendering is all-or-nothing: a missing variable raises :class:`TemplateVariableMissing` and no
partial output is ever returned. HTML forms are autoescaped; text forms are not escaped.
"""
from __future__ import annotations


import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from notifications.rendering.catalog import (
    CATALOG,
    EMAIL_FILE,
    PRINT_FILE,
    SHORT_FILE,
    SUBJECT_FILE,
    TemplateSpec,
)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
SHANGHAI = ZoneInfo("Asia/Shanghai")


class RenderError(Exception):
    """Any failure to render a template."""


class TemplateVariableMissing(RenderError):
    """A variable the template needs was not given (or was None for a required one)."""

    def __init__(self, template: str, variable: str, detail: str | None = None) -> None:
        self.template = template
        self.variable = variable
        msg = f"template {template!r}: variable {variable!r} is missing"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class UnknownTemplate(RenderError):
    """No such template type, or the type has no form of the requested kind."""


@dataclass(frozen=True)
class RenderedMessage:
    template: str
    subject: str
    short_text: str
    html: str


@dataclass(frozen=True)
class RenderedDocument:
    template: str
    title: str
    html: str
    pdf: bytes  # b"" when rendered with pdf=False
    sha256: str  # hex digest of ``pdf``; "" when rendered with pdf=False


# --------------------------------------------------------------------------------------------
# Strict undefined that remembers which variable was missing
# --------------------------------------------------------------------------------------------

class _UndefinedMessage(str):
    """The error message of an undefined value, carrying the variable's name."""

    variable: str


class _StrictUndefined(StrictUndefined):
    __slots__ = ()

    @property
    def _undefined_message(self) -> str:  # type: ignore[override]
        msg = _UndefinedMessage(super()._undefined_message)
        name = str(self._undefined_name) if self._undefined_name is not None else "?"
        if self._undefined_obj is not jinja2.utils.missing:
            name = f"{type(self._undefined_obj).__name__}.{name}"
        msg.variable = name
        return msg


class _RequiredValueMissing(RenderError):
    """Raised by the ``required`` filter; turned into TemplateVariableMissing by the renderer."""

    def __init__(self, variable: str) -> None:
        self.variable = variable
        super().__init__(variable)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=_StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False,
                                     default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    from notifications.rendering.filters import FILTERS  # filters import this module's errors

    env.filters.update(FILTERS)
    return env


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

def template_names() -> list[str]:
    return list(CATALOG)


def _spec(template: str) -> TemplateSpec:
    try:
        return CATALOG[template]
    except (KeyError, TypeError):
        raise UnknownTemplate(f"unknown template {template!r}; known: {', '.join(CATALOG)}") from None


def required_variables(template: str) -> list[str]:
    return _spec(template).required


def _check_variables(spec: TemplateSpec, variables: Mapping[str, Any]) -> dict[str, Any]:
    """Check required variables (None counts as missing) and list items; add optional defaults."""
    if not isinstance(variables, Mapping):
        raise RenderError(f"template {spec.name!r}: variables must be a mapping")
    context = dict(variables)
    for var in spec.variables:
        if var.required and context.get(var.name) is None:
            raise TemplateVariableMissing(spec.name, var.name)
        if not var.required and context.get(var.name) is None:
            context[var.name] = var.default
        if var.item_fields:
            items = context[var.name]
            if isinstance(items, (str, bytes, Mapping)) or not hasattr(items, "__iter__"):
                raise RenderError(f"template {spec.name!r}: {var.name!r} must be a list")
            for i, item in enumerate(items):
                if not isinstance(item, Mapping):
                    raise RenderError(f"template {spec.name!r}: {var.name}[{i}] must be a mapping")
                for field_name, _ in var.item_fields:
                    if item.get(field_name) is None:
                        raise TemplateVariableMissing(spec.name, f"{var.name}[{i}].{field_name}")
    return context


def _render(spec: TemplateSpec, filename: str, context: dict[str, Any],
            block: str | None = None) -> str:
    """Render a template file (or one of its blocks), mapping every failure to a RenderError."""
    try:
        tmpl = environment().get_template(f"{spec.name}/{filename}")
        if block is None:
            return tmpl.render(context)
        if block not in tmpl.blocks:
            raise RenderError(f"template {spec.name!r} ({filename}) has no block {block!r}")
        text = "".join(tmpl.blocks[block](tmpl.new_context(context)))
        return Markup(text).unescape().strip()
    except jinja2.UndefinedError as exc:
        name = getattr(exc.message, "variable", None) or "?"
        raise TemplateVariableMissing(spec.name, name, str(exc.message)) from exc
    except _RequiredValueMissing as exc:
        raise TemplateVariableMissing(spec.name, exc.variable, "needed by this branch") from exc
    except RenderError:
        raise
    except jinja2.TemplateNotFound as exc:
        raise UnknownTemplate(f"template file {exc.name!r} not found") from exc
    except Exception as exc:  # a filter got a value of the wrong type, a template error, ...
        raise RenderError(f"template {spec.name!r} ({filename}): {exc}") from exc


def _one_line(text: str) -> str:
    return " ".join(text.split())


_BLANK_RUNS = re.compile(r"\n{3,}")


def render_message(template: str, variables: Mapping[str, Any], *, html: bool = True) -> RenderedMessage:
    """Short text (bot/SMS), e-mail subject and e-mail HTML of a template type (``html=False``:
    without the e-mail HTML, left empty — a list that shows subject and text only)."""
    spec = _spec(template)
    if not spec.is_message:
        raise UnknownTemplate(f"template {template!r} has no message form")
    context = _check_variables(spec, variables)
    short = _BLANK_RUNS.sub("\n\n", _render(spec, SHORT_FILE, context).strip())
    subject = _one_line(_render(spec, SUBJECT_FILE, context))
    body = _render(spec, EMAIL_FILE, context) if html else ""
    return RenderedMessage(template=template, subject=subject, short_text=short, html=body)


def render_document(template: str, variables: Mapping[str, Any], *, pdf: bool = True) -> RenderedDocument:
    """Printable HTML and (unless ``pdf=False``) the PDF of a document type.

    The PDF's creation date comes from ``issued_at`` and no random file identifier is written,
    so the same variables give the same bytes and ``sha256`` whenever :func:`pdf_reproducible`
    holds (HarfBuzz subsetting installed, or ``SOURCE_DATE_EPOCH`` set).
    """
    spec = _spec(template)
    if not spec.is_document:
        raise UnknownTemplate(f"template {template!r} has no printable document form")
    context = _check_variables(spec, variables)
    html = _render(spec, PRINT_FILE, context)
    title = _render(spec, PRINT_FILE, context, block="doc_title")
    if not pdf:
        return RenderedDocument(template=template, title=title, html=html, pdf=b"", sha256="")
    data = html_to_pdf(html)
    return RenderedDocument(template=template, title=title, html=html, pdf=data,
                            sha256=hashlib.sha256(data).hexdigest())


def harfbuzz_subsetting() -> bool:
    """Whether WeasyPrint subsets fonts with HarfBuzz (Debian ``libharfbuzz-subset0``).

    With it a CJK document renders in about a second and the same HTML always gives the same
    PDF bytes. Without it WeasyPrint falls back to fontTools: ~15 s per document, and fontTools
    writes the current time into each embedded font unless ``SOURCE_DATE_EPOCH`` is set.
    """
    from notifications.rendering.pdf_engine import import_weasyprint

    import_weasyprint()
    from weasyprint.pdf import fonts
    from weasyprint.text.ffi import harfbuzz

    return bool(fonts.harfbuzz_subset) and bool(harfbuzz.hb_version_atleast(4, 1, 0))


def pdf_reproducible() -> bool:
    """Whether PDF bytes (and so ``RenderedDocument.sha256``) are reproducible across runs."""
    return harfbuzz_subsetting() or "SOURCE_DATE_EPOCH" in os.environ


def html_to_pdf(html: str) -> bytes:
    """Printable HTML → PDF bytes with WeasyPrint (imported lazily: it is slow to import)."""
    from notifications.rendering.pdf_engine import import_weasyprint, write_pdf

    try:
        import_weasyprint()
    except ImportError as exc:  # pragma: no cover - weasyprint is a dependency
        raise RenderError("weasyprint is not installed; cannot produce PDF") from exc

    try:
        return write_pdf(html, str(TEMPLATE_DIR))
    except Exception as exc:
        raise RenderError(f"PDF rendering failed: {exc}") from exc
