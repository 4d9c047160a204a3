"""Small generated evidence files for tests (no fixtures on disk), and the upload helper the drivers
use: a 重大事故隐患 (machine v2) is verified and closed only with a 整改后 photo on the case."""
from __future__ import annotations

import io
import itertools
from typing import Any

from PIL import Image

# (degrees, minutes, seconds) of 苏州 平江路 — what a phone writes into GPSLatitude / GPSLongitude.
SUZHOU = {"lat": (31.0, 18.0, 54.0), "lon": (120.0, 37.0, 48.0)}


def tiny_png(colour=(30, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buf, "PNG")
    return buf.getvalue()


# What the guard ``has_rectification_photo`` (cases/ledger/guards.py) says when it refuses.
PHOTO_REFUSAL = "尚未上传整改后照片"

_fresh = itertools.count(1)


def fresh_png() -> bytes:
    """A tiny PNG never generated before in this process (a new photo, not a duplicate)."""
    n = next(_fresh)
    return tiny_png((n % 256, (n // 256) % 256, 77))


def image_bytes(fmt: str, size=(64, 32), colour=(200, 40, 40), **save) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt, **save)
    return buf.getvalue()


def jpeg_with_exif(size=(400, 200), orientation: int = 6, taken: str | None = "2026:11:20 14:03:05",
                   offset: str | None = "+08:00", gps: bool = True) -> bytes:
    """A landscape JPEG (400×200 as stored) that says "rotate 90° clockwise to view" (orientation 6),
    with the photo's own time and place."""
    exif = Image.Exif()
    exif[0x0112] = orientation                    # Orientation
    exif[0x010F] = "HUAWEI"                        # Make
    exif[0x0110] = "P60"                           # Model
    sub = exif.get_ifd(0x8769)                     # Exif IFD
    if taken:
        sub[0x9003] = taken                        # DateTimeOriginal
    if offset:
        sub[0x9011] = offset                       # OffsetTimeOriginal
    if gps:
        g = exif.get_ifd(0x8825)                   # GPS IFD
        g[1], g[2] = "N", SUZHOU["lat"]
        g[3], g[4] = "E", SUZHOU["lon"]
        g[5], g[6] = 0, 12.5
    im = Image.new("RGB", size, (10, 160, 60))
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def tiny_pdf() -> bytes:
    """A minimal valid one-page PDF."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def upload(client, case_id: int, data: bytes, filename: str = "现场.png", purpose: str = "after",
           content_type: str = "application/octet-stream", **form: Any):
    """POST one file as evidence; returns the response."""
    fields = {"purpose": purpose, **{k: str(v) for k, v in form.items() if v is not None}}
    return client.post(f"/api/cases/{case_id}/evidence", files={"file": (filename, data, content_type)}, data=fields)


def upload_photo(client, case_id: int, purpose: str = "after", colour=(30, 120, 200)) -> dict:
    """A tiny generated PNG as a 整改后 photo (what the major-hazard guard asks for)."""
    r = upload(client, case_id, tiny_png(colour), "整改后.png", purpose, "image/png")
    assert r.status_code in (200, 201), r.text
    return r.json()
