"""PDF set-up (notifications/rendering/pdf_engine.py): one font configuration per process — the same PDF
bytes as WeasyPrint's default, rendered faster; renders from two threads are serialised."""
from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

from notifications.rendering import pdf_engine
from notifications.rendering.render import PRINT_FILE, TEMPLATE_DIR, _check_variables, _render, _spec
from tests.data.template_samples import SAMPLES

ROOT = Path(__file__).resolve().parents[1]


def _html(name: str) -> str:
    spec = _spec(name)
    return _render(spec, PRINT_FILE, _check_variables(spec, copy.deepcopy(SAMPLES[name])))


PLAIN = """
import sys, hashlib, weasyprint
html = sys.stdin.read()
sys.stdout.write(hashlib.sha256(weasyprint.HTML(string=html, base_url=sys.argv[1]).write_pdf()).hexdigest())
"""


def _plain_sha256(html: str) -> str:
    """WeasyPrint as it comes (a fresh process: no shared configuration, no preprocessed face)."""
    done = subprocess.run([sys.executable, "-c", PLAIN, str(TEMPLATE_DIR)], input=html, text=True,
                          capture_output=True, cwd=ROOT, timeout=300, check=True)
    return done.stdout.strip()


def test_documents_from_the_shared_font_configuration_are_the_bytes_of_weasyprints_default(monkeypatch):
    # Reproducible bytes need HarfBuzz subsetting or SOURCE_DATE_EPOCH (notifications/rendering/render.py
    # pdf_reproducible): set it, in this process and the stock one, so the comparison holds on both.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    first, second = _html("rectification_notice"), _html("stop_work_order")
    plain = [_plain_sha256(first), _plain_sha256(second)]
    pdf_engine.warm_up()
    ours = [hashlib.sha256(pdf_engine.write_pdf(h, str(TEMPLATE_DIR))).hexdigest() for h in (first, second, first)]
    assert ours == plain + plain[:1]
    assert pdf_engine._font_config is not None  # one configuration, kept for the next document


def test_renders_from_two_threads_at_once_are_both_whole():
    html = _html("rectification_notice")
    out: list[bytes] = []
    threads = [threading.Thread(target=lambda: out.append(pdf_engine.write_pdf(html, str(TEMPLATE_DIR))))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert len(out) == 2 and out[0] == out[1]
    assert out[0].startswith(b"%PDF") and out[0].rstrip().endswith(b"%%EOF")


LIBRARIES = """
import json, sys
started = []
sys.addaudithook(lambda event, args: event == "subprocess.Popen" and started.append(str(args[1])[:80]))
if sys.argv[1] == "ours":
    from notifications.rendering.pdf_engine import import_weasyprint
    import_weasyprint()
else:
    import weasyprint
import ctypes.util
with open("/proc/self/maps") as maps:
    mapped = sorted({line.split()[-1].rsplit("/", 1)[-1] for line in maps if ".so" in line})
print(json.dumps({"started": started, "mapped": mapped,
                  "find_library_restored": ctypes.util.find_library.__module__ == "ctypes.util"}))
"""


def _import_in_fresh_process(how: str) -> dict:
    done = subprocess.run([sys.executable, "-c", LIBRARIES, how], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=True)
    return json.loads(done.stdout)


def test_weasyprint_is_imported_with_one_library_lookup_and_the_same_libraries():
    """WeasyPrint's shared libraries looked up in one ``ldconfig -p`` instead of ldconfig, gcc and ld
    for each name it tries (54 processes with the standard lookup): the same libraries end up loaded,
    and the standard lookup is back in place afterwards."""
    ours, standard = _import_in_fresh_process("ours"), _import_in_fresh_process("standard")
    assert len(ours["started"]) <= 1, ours["started"]
    assert ours["mapped"] == standard["mapped"]
    for lib in ("libpango-1.0.so.0", "libharfbuzz.so.0", "libharfbuzz-subset.so.0", "libfontconfig.so.1",
                "libgobject-2.0.so.0", "libpangoft2-1.0.so.0"):
        assert any(name.startswith(lib) for name in ours["mapped"]), lib
    assert ours["find_library_restored"]


def test_a_document_copies_its_font_subsets_not_the_whole_faces(monkeypatch):
    """WeasyPrint copied each CJK face's whole data (10–20 MB) into Python bytes for every document
    and then replaced it with the subset's; the copy now waits until something reads it, so a
    document copies only what it embeds (the same PDF bytes: the test above compares them with
    WeasyPrint's default)."""
    pdf_engine.import_weasyprint()
    copies: list[int] = []
    real_copy = pdf_engine._FaceBlob.copy

    def counted(blob):
        data = real_copy(blob)
        copies.append(len(data or b""))
        return data

    monkeypatch.setattr(pdf_engine._FaceBlob, "copy", counted)
    pdf = pdf_engine.write_pdf(_html("rectification_notice"), str(TEMPLATE_DIR))
    assert pdf.startswith(b"%PDF") and copies, copies  # the embedded subsets went through the deferred copy
    assert max(copies) < 4 * 2**20, copies  # no whole face (a Noto CJK face is over 10 MB)
