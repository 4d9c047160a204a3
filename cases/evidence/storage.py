"""Evidence files on disk: what the bytes are (sniffed from the content, never the name or the
Content-Type), the photo's own time and place (EXIF), the display image and the thumbnail.

Layout under the data dir (``Settings.data_dir``), everything addressed by the SHA-256 of the
uploaded bytes, so the same file uploaded twice is stored once:

    evidence/<sha256>.<ext>            the file exactly as uploaded (its hash is the evidence's hash)
    evidence/display/<sha256>.jpg      the photo as shown: EXIF orientation applied, HEIC → JPEG
                                       (only when that differs from the original; else the original is shown)
    evidence/thumbs/<sha256>.jpg       the thumbnail: at most ``THUMB_PX`` on its longer side, JPEG

Files are written before the database row commits; a transaction that then fails leaves a file no
row names (harmless: content-addressed, rewritten identically by the next upload of those bytes).
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from cases.platform.errors import ValidationFailed
from cases.platform.files import write_atomically

THUMB_PX = 320
# A photo larger than this (pixels) is refused before it is decoded (a "decompression bomb").
MAX_PIXELS = 60_000_000
EVIDENCE_DIR = "evidence"

# Pillow's format name → (media type, file extension)
IMAGE_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp"),
                 "HEIF": ("image/heic", "heic")}
PDF = ("application/pdf", "pdf")
# What a browser can show as it is; anything else gets a JPEG display copy.
BROWSER_IMAGES = {"image/jpeg", "image/png", "image/webp"}

ACCEPTED_TEXT = "只接受 JPEG、PNG、WebP 照片或 PDF 文件"


def _heif_opener() -> bool:
    """HEIC (iPhone photos) when pillow-heif is installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # pragma: no cover - optional
        return False
    register_heif_opener()
    return True


HEIC_SUPPORTED = _heif_opener()
if HEIC_SUPPORTED:
    ACCEPTED_TEXT = "只接受 JPEG、PNG、WebP、HEIC 照片或 PDF 文件"


def file_error(message: str) -> ValidationFailed:
    return ValidationFailed([{"field": "file", "label": "文件", "message": message}])


@dataclass
class Sniffed:
    """What an upload is, from its bytes."""

    media_type: str
    ext: str
    sha256: str
    size: int
    width: int | None = None      # as displayed (orientation applied)
    height: int | None = None
    oriented: bool = False        # EXIF orientation was not "as stored"
    meta: dict[str, Any] = field(default_factory=dict)  # taken_at, taken_offset, gps, camera

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


def sniff(data: bytes) -> tuple[Sniffed, Image.Image | None]:
    """The file's type from its content: an image Pillow decodes completely (JPEG, PNG, WebP, HEIC),
    or a PDF (``%PDF-`` header and an ``%%EOF`` trailer). Anything else is a 422 naming 文件."""
    if not data:
        raise file_error("文件为空")
    digest = hashlib.sha256(data).hexdigest()
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-2048:]:
            raise file_error("PDF 文件不完整（缺少文件结尾）")
        return Sniffed(PDF[0], PDF[1], digest, len(data)), None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            fmt = im.format
            if fmt not in IMAGE_FORMATS:
                raise file_error(f"不支持的文件类型（{fmt}）：{ACCEPTED_TEXT}")
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise file_error(f"照片像素过多（{w}×{h}）：最多{MAX_PIXELS // 1_000_000}百万像素")
            im.load()
    except ValidationFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise file_error(f"照片像素过多：最多{MAX_PIXELS // 1_000_000}百万像素") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise file_error(f"无法识别的文件内容：{ACCEPTED_TEXT}") from None
    media, ext = IMAGE_FORMATS[fmt]
    exif = im.getexif()
    orientation = exif.get(ExifTags.Base.Orientation, 1)
    oriented = orientation not in (1, None)
    w, h = im.size
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return Sniffed(media, ext, digest, len(data), w, h, oriented, photo_meta(exif)), im


# ---------------------------------------------------------------- EXIF: the photo's own time and place


def _ratio(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _degrees(dms: Any, ref: Any) -> float | None:
    try:
        d, m, s = (_ratio(x) for x in dms)
    except (TypeError, ValueError):
        return None
    if d is None or m is None or s is None:
        return None
    value = d + m / 60 + s / 3600
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "ignore")
    if str(ref).strip().upper() in ("S", "W"):
        value = -value
    return round(value, 7)


def _text(v: Any) -> str | None:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "ignore")
    if not isinstance(v, str):
        return None
    v = v.replace("\x00", "").strip()
    return v[:64] or None


def photo_meta(exif: Image.Exif) -> dict[str, Any]:
    """``taken_at`` (DateTimeOriginal as ISO local wall time, the camera's clock: EXIF has no zone
    unless ``taken_offset`` — OffsetTimeOriginal — says it), ``gps`` ({lat, lon[, alt]} in degrees
    and metres) and ``camera`` (make and model) when the photo carries them."""
    out: dict[str, Any] = {}
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the photo
        sub = {}
    raw = _text(sub.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime))
    if raw:
        try:
            out["taken_at"] = datetime.strptime(raw[:19], "%Y:%m:%d %H:%M:%S").isoformat()
        except ValueError:
            pass
    offset = _text(sub.get(ExifTags.Base.OffsetTimeOriginal))
    if offset and len(offset) == 6 and offset[0] in "+-":
        out["taken_offset"] = offset
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:  # noqa: BLE001
        gps = {}
    if gps:
        lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef))
        lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef))
        if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
            place: dict[str, Any] = {"lat": lat, "lon": lon}
            alt = _ratio(gps.get(ExifTags.GPS.GPSAltitude))
            if alt is not None:
                if gps.get(ExifTags.GPS.GPSAltitudeRef) in (1, b"\x01"):
                    alt = -alt
                place["alt"] = round(alt, 1)
            out["gps"] = place
    camera = " ".join(x for x in (_text(exif.get(ExifTags.Base.Make)), _text(exif.get(ExifTags.Base.Model))) if x)
    if camera:
        out["camera"] = camera
    return out


# ---------------------------------------------------------------- files


def _root(settings) -> Path:
    return Path(settings.data_dir) / EVIDENCE_DIR


def original_rel(sha256: str, ext: str) -> str:
    return f"{EVIDENCE_DIR}/{sha256}.{ext}"


def display_rel(sha256: str) -> str:
    return f"{EVIDENCE_DIR}/display/{sha256}.jpg"


def thumb_rel(sha256: str) -> str:
    return f"{EVIDENCE_DIR}/thumbs/{sha256}.jpg"


def write_once(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` atomically, unless a file of that size is already there (the name
    is the content's hash)."""
    if path.exists() and path.stat().st_size == len(data):
        return
    write_atomically(path, data)


def _jpeg(im: Image.Image, quality: int) -> bytes:
    if im.mode not in ("RGB", "L"):
        background = Image.new("RGB", im.size, (255, 255, 255))
        rgba = im.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        im = background
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


@dataclass
class StoredPaths:
    original: str
    display: str | None   # None: the original is shown as it is
    thumb: str | None     # None: no thumbnail (a PDF)


def store(settings, data: bytes, sniffed: Sniffed, im: Image.Image | None) -> StoredPaths:
    """Write the original, and for a photo its display copy (if needed) and thumbnail."""
    original = original_rel(sniffed.sha256, sniffed.ext)
    write_once(Path(settings.data_dir) / original, data)
    if im is None:
        return StoredPaths(original, None, None)
    upright = ImageOps.exif_transpose(im)
    display = None
    if sniffed.oriented or sniffed.media_type not in BROWSER_IMAGES:
        display = display_rel(sniffed.sha256)
        write_once(Path(settings.data_dir) / display, _jpeg(upright, 90))
    thumb = upright.copy()
    thumb.thumbnail((THUMB_PX, THUMB_PX))
    thumb_path = thumb_rel(sniffed.sha256)
    write_once(Path(settings.data_dir) / thumb_path, _jpeg(thumb, 80))
    return StoredPaths(original, display, thumb_path)


def read(settings, relative: str | None) -> bytes | None:
    """A stored file's bytes, or None when it is missing. ``relative`` comes from our own rows."""
    if not relative:
        return None
    path = Path(settings.data_dir) / relative
    try:
        return path.read_bytes()
    except OSError:
        return None
