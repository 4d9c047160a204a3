"""WeasyPrint, set up once per process for the documents this service prints.

A notice is a page or two of Chinese text in up to five Noto CJK faces (serif and sans, regular
and bold). WeasyPrint by default builds a new ``FontConfiguration`` for every document: fontconfig's
configuration and Pango's font map are made again and every face is opened again — ~80 ms of a
450–750 ms document on the 2-core machine, and the first document of a process costs ~0.9 s
(docs/performance.md, "Issue 9, session 17"). So each process keeps one configuration (its faces
stay open), and a process about to render opens them ahead (:func:`warm_up`). The PDF bytes are
the same either way (tests/test_pdf_engine.py compares them with WeasyPrint's own). Renders in one
process take a lock: Pango's font map is not meant for two threads.

Measured and left out: subsetting from faces preprocessed by HarfBuzz (``hb_subset_preprocess``)
halves a document's subsetting CPU, but each preprocessed CJK face holds ~380 MiB (1.9 GiB for a
notice's five) and costs ~1 s of CPU to make.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("anjian.pdf")

_lock = threading.Lock()
_font_config: Any = None


def write_pdf(html: str, base_url: str) -> bytes:
    """Printable HTML → PDF bytes with the process's font configuration."""
    import weasyprint

    with _lock:
        return weasyprint.HTML(string=html, base_url=base_url).write_pdf(font_config=_shared_font_config())


def _shared_font_config():
    global _font_config
    if _font_config is None:
        from weasyprint.text.fonts import FontConfiguration

        _font_config = FontConfiguration()
    return _font_config


WARM_UP_HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"></head>
<body style="font-family: 'Noto Serif CJK SC', 'Noto Serif SC', 'WenQuanYi Micro Hei', serif">
<p>安全生产 2026年 <b>整改通知书</b></p>
<p style="font-family: 'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif">监督检查 <b>限期整改</b></p>
</body></html>"""


def warm_up() -> None:
    """Import WeasyPrint and open the fonts now (a process about to render: its first real document
    then costs what later ones do). A failure here is only logged: the real render reports its own."""
    try:
        write_pdf(WARM_UP_HTML, ".")
    except Exception:  # noqa: BLE001
        log.warning("PDF warm-up failed", exc_info=True)
