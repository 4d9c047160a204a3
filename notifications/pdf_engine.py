"""WeasyPrint, set up once per process for the documents this service prints.

A notice is a page or two of Chinese text in up to five Noto CJK faces (serif and sans, regular
and bold). Measured on the 2-core machine (docs/performance.md, "Issue 9, session 17"), WeasyPrint
by default spends most of a document's CPU on its fonts:

- a new ``FontConfiguration`` per document: fontconfig's configuration and Pango's font map are
  built again, and every face is opened again (~80 ms of a 450–750 ms document);
- HarfBuzz subsetting each face from scratch: for a CFF font of 65,000 glyphs that is parsing
  its charstrings and subroutines every time (~35 ms per face, five faces per document).

So each process keeps one ``FontConfiguration`` (its faces stay open) and, once it has used a face
a few times (``PREPROCESS_AFTER_USES``: it is rendering a batch), subsets from a copy that HarfBuzz
has *preprocessed* (``hb_subset_preprocess``, HarfBuzz ≥ 6: the face with the data the subsetter
would otherwise compute on each call attached). Preprocessing is dear (~1 s of CPU per CJK face),
so it runs on a thread of its own while documents go on the plain way. The PDF bytes are the same
either way (tests/test_pdf_engine.py compares them); only the time differs: about half the CPU of
a document. Renders in one process take a lock: Pango's font map is not meant for two threads.

Where the installed WeasyPrint or HarfBuzz does not offer what this relies on (``Font`` without
``_harfbuzz_subset``, no ``hb_subset_preprocess``), documents render as WeasyPrint does by default.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("anjian.pdf")

_lock = threading.Lock()
_font_config: Any = None
_preprocessed: dict[tuple, Any] = {}
_preprocessing: set[tuple] = set()
_uses: dict[tuple, int] = {}
_uses_lock = threading.Lock()
# Preprocessing a Noto CJK face costs ~1 s of CPU (5.5 s for a notice's five faces, measured) and
# saves ~35 ms on each later subset: worth it for a process that renders a batch, not for one that
# renders a single notice. So a face is preprocessed — on a thread of its own, the documents meanwhile
# subset it the plain way — once this process has subset it this many times.
PREPROCESS_AFTER_USES = 3
_patched: bool | None = None  # None: not tried yet


def write_pdf(html: str, base_url: str) -> bytes:
    """Printable HTML → PDF bytes with the process's font set-up."""
    import weasyprint

    with _lock:
        config = _shared_font_config()
        return weasyprint.HTML(string=html, base_url=base_url).write_pdf(font_config=config)


def _shared_font_config():
    global _font_config
    if _font_config is None:
        from weasyprint.text.fonts import FontConfiguration

        _install_preprocessed_subsetting()
        _font_config = FontConfiguration()
    return _font_config


def preprocessed_faces() -> int:
    """How many faces this process subsets from a preprocessed copy (for tests and benches)."""
    return len(_preprocessed)


def preprocessing_installed() -> bool:
    return bool(_patched)


def preprocessing_settled(timeout: float) -> bool:
    """Wait until no face is being preprocessed (tests, benches); False if some still are."""
    import time

    deadline = time.monotonic() + timeout
    while _preprocessing and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _preprocessing


def _install_preprocessed_subsetting() -> None:
    global _patched
    if _patched is not None:
        return
    _patched = False
    try:
        from weasyprint.pdf import fonts as pdf_fonts
        from weasyprint.text import ffi as text_ffi
    except ImportError:  # pragma: no cover - weasyprint is a dependency
        return
    font_class = getattr(pdf_fonts, "Font", None)
    original = getattr(font_class, "_harfbuzz_subset", None)
    hb_subset = getattr(text_ffi, "harfbuzz_subset", None)
    if original is None or not hb_subset:
        return
    import inspect

    if list(inspect.signature(original).parameters) != ["self", "to_unicode", "hinting"]:
        return  # a WeasyPrint this wrapper was not written for: its own subsetting
    ffi = text_ffi.ffi
    try:
        ffi.cdef("hb_face_t * hb_subset_preprocess (hb_face_t *source);")
    except Exception:  # noqa: BLE001 - declared already (a second install in tests), or a newer cffi rule
        pass
    try:
        preprocess = hb_subset.hb_subset_preprocess
    except (AttributeError, NotImplementedError):  # HarfBuzz older than 6.0
        return
    destroy = text_ffi.harfbuzz.hb_face_destroy

    reference = text_ffi.harfbuzz.hb_face_reference

    def preprocess_in_background(key: tuple, source) -> None:
        own = reference(source)  # the face outlives the document that asked for it

        def work() -> None:
            try:
                made = preprocess(own)  # C, without the GIL: the renders go on meanwhile
                if made != ffi.NULL:
                    _preprocessed[key] = ffi.gc(made, destroy)
            except Exception:  # noqa: BLE001 - the face is subset the plain way
                log.warning("preprocessing a font face failed", exc_info=True)
            finally:
                destroy(own)
                _preprocessing.discard(key)

        threading.Thread(target=work, name="font-preprocess", daemon=True).start()

    def subset_from_preprocessed(self, to_unicode, hinting):
        # The face's identity: the font file (its size stands for it among the installed fonts),
        # the face within a collection, and what Pango matched. A process keeps at most a few.
        key = (len(self.file_content), self.index, self.family, self.weight, self.style)
        face = _preprocessed.get(key)
        if face is None:
            with _uses_lock:
                _uses[key] = uses = _uses.get(key, 0) + 1
                start = uses >= PREPROCESS_AFTER_USES and key not in _preprocessing
                if start:
                    _preprocessing.add(key)
            if start:
                preprocess_in_background(key, self.hb_face)
            return original(self, to_unicode, hinting)
        own = self.hb_face
        self.hb_face = face
        try:
            return original(self, to_unicode, hinting)
        finally:
            self.hb_face = own

    font_class._harfbuzz_subset = subset_from_preprocessed
    _patched = True


WARM_UP_HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"></head>
<body style="font-family: 'Noto Serif CJK SC', 'Noto Serif SC', 'WenQuanYi Micro Hei', serif">
<p>安全生产 2026年 <b>整改通知书</b></p>
<p style="font-family: 'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif">监督检查 <b>限期整改</b></p>
</body></html>"""


def warm_up() -> None:
    """Open the fonts and preprocess their faces now (a process about to render: the first real
    document then costs what every later one does). A failure here is only logged: the real
    render reports its own."""
    try:
        write_pdf(WARM_UP_HTML, ".")
    except Exception:  # noqa: BLE001
        log.warning("PDF warm-up failed", exc_info=True)
