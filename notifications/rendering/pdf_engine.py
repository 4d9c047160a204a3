"""WeasyPrint, set up once per process for the documents this service prints.

A notice is a page or two of Chinese text in up to five Noto CJK faces (serif and sans, regular
and bold). WeasyPrint by default builds a new ``FontConfiguration`` for every document: fontconfig's
configuration and Pango's font map are made again and every face is opened again — ~80 ms of a
450–750 ms document on the 2-core machine, and the first document of a process costs ~0.9 s
(docs/performance.md, "Issue 9, session 17"). So each process keeps one configuration (its faces
stay open), and a process about to render opens them ahead (:func:`warm_up`). The PDF bytes are
the same either way (tests/test_pdf_engine.py compares them with WeasyPrint's own). Renders in one
process take a lock: Pango's font map is not meant for two threads.

WeasyPrint opens its shared libraries (GObject, Pango, HarfBuzz, fontconfig) through cffi, trying
several names each; a name that is not a file path goes to ``ctypes.util.find_library``, which on
Linux runs ``ldconfig -p``, then gcc, then ld for every miss — 54 processes and ~0.2 s of CPU at
each import (docs/performance.md, "Issue 9, session 27"). :func:`import_weasyprint` imports it with
a lookup that reads ``ldconfig -p`` once and stops there (names with ``.so`` are still opened
directly by the dynamic loader, ``LD_LIBRARY_PATH`` included); every import of WeasyPrint in the
service goes through it. It also has WeasyPrint copy a font face's data only when something reads
it (:func:`_defer_face_copies`): a notice no longer copies its four CJK faces whole (~70 MB) to
embed their subsets — 10–20 % of a document's CPU.

Measured and left out: subsetting from faces preprocessed by HarfBuzz (``hb_subset_preprocess``)
halves a document's subsetting CPU, but each preprocessed CJK face holds ~380 MiB (1.9 GiB for a
notice's five) and costs ~1 s of CPU to make.
"""
from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
from types import ModuleType
from typing import Any

log = logging.getLogger("anjian.pdf")

_lock = threading.Lock()
_import_lock = threading.Lock()
_prepared = threading.Event()  # WeasyPrint imported and its face copies deferred
_font_config: Any = None


def import_weasyprint() -> ModuleType:
    """``import weasyprint``, its shared libraries looked up in one ``ldconfig -p`` and its face
    copies deferred (see above). Another thread gets it once all of that is done."""
    if not _prepared.is_set():
        with _import_lock:
            if not _prepared.is_set():
                if "weasyprint" not in sys.modules:
                    import ctypes.util

                    original = ctypes.util.find_library
                    ctypes.util.find_library = _library_finder(original)
                    try:
                        import weasyprint  # noqa: F401
                    finally:
                        ctypes.util.find_library = original
                _defer_face_copies()
                _prepared.set()
    return sys.modules["weasyprint"]


class _FaceBlob:
    """A HarfBuzz face's data, referenced and not yet copied out (see :func:`_defer_face_copies`)."""

    __slots__ = ("blob",)

    def __init__(self, hb_face) -> None:
        from weasyprint.text.ffi import ffi, harfbuzz

        self.blob = ffi.gc(harfbuzz.hb_face_reference_blob(hb_face), harfbuzz.hb_blob_destroy)

    def __bool__(self) -> bool:
        from weasyprint.text.ffi import harfbuzz

        return harfbuzz.hb_blob_get_length(self.blob) > 0

    def copy(self) -> bytes | None:
        from weasyprint.text.ffi import ffi, harfbuzz

        with ffi.new("unsigned int *") as length:
            data = harfbuzz.hb_blob_get_data(self.blob, length)
            return None if data == ffi.NULL else ffi.unpack(data, int(length[0]))


def _defer_face_copies() -> None:
    """WeasyPrint copies each font face's whole data into Python bytes when a document first uses
    the face (``Font.file_content``: ~10–20 MB for a CJK face, four faces a notice) and replaces it
    with the subset's bytes before anything reads it, when HarfBuzz subsets. Here the copy waits
    until something reads ``file_content`` — the subset's bytes, or the whole face where subsetting
    is not done — holding a reference to the face's data meanwhile (so it cannot be freed or
    reused under it). Whatever reads it gets the same bytes as before (tests/test_pdf_engine.py
    compares PDFs with WeasyPrint's default). Not installed where WeasyPrint's internals differ."""
    from weasyprint.pdf import fonts as pdf_fonts

    font_class = getattr(pdf_fonts, "Font", None)
    original = getattr(pdf_fonts, "get_hb_object_data", None)
    if font_class is None or original is None or getattr(original, "anjian_deferred", False) \
            or "file_content" in vars(font_class):
        return

    def get_hb_object_data(hb_object, ot_color=None, glyph=None):
        if ot_color is None and glyph is None:
            return _FaceBlob(hb_object)
        return original(hb_object, ot_color, glyph)

    get_hb_object_data.anjian_deferred = True

    def read(font):
        value = font.__dict__.get("_anjian_file_content")
        if isinstance(value, _FaceBlob):
            value = font.__dict__["_anjian_file_content"] = value.copy()
        return value

    def write(font, value) -> None:
        font.__dict__["_anjian_file_content"] = value

    font_class.file_content = property(read, write)
    pdf_fonts.get_hb_object_data = get_hb_object_data


def _library_finder(fallback):
    """``find_library`` answered from one ``ldconfig -p`` listing, matched as the standard lookup
    matches it (CPython's ``ctypes.util._findSoname_ldconfig``); without a listing, the standard one."""
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10,
                                 env={"LC_ALL": "C", "LANG": "C", "PATH": "/sbin:/usr/sbin:/bin:/usr/bin"}).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    if not listing:
        return fallback
    import os
    import struct

    machine = os.uname().machine + ("-64" if struct.calcsize("l") == 8 else "-32")
    abi = {"x86_64-64": "libc6,x86-64", "ppc64-64": "libc6,64bit", "sparc64-64": "libc6,64bit",
           "s390x-64": "libc6,64bit", "ia64-64": "libc6,IA-64"}.get(machine, "libc6")

    def find_library(name: str) -> str | None:
        match = re.search(r"\s+(lib%s\.[^\s]+)\s+\(%s" % (re.escape(name), re.escape(abi)), listing)
        return match.group(1) if match else None

    return find_library


def write_pdf(html: str, base_url: str) -> bytes:
    """Printable HTML → PDF bytes with the process's font configuration."""
    weasyprint = import_weasyprint()

    with _lock:
        return weasyprint.HTML(string=html, base_url=base_url).write_pdf(font_config=_shared_font_config())


def _shared_font_config():
    global _font_config
    if _font_config is None:
        import_weasyprint()
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
