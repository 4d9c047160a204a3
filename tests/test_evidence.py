"""Evidence (证据材料) over real HTTP on both databases: photos and PDFs sniffed from their bytes, EXIF
orientation applied to the display image and the thumbnail, the photo's own time and place kept,
stored once per content, served with safe headers, visible as the case is; and the 重大事故隐患's
guard: no 核查 without a 整改后 photo."""
from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from cases.evidence import storage
from cases.ledger.engine import get_registry, set_registry
from cases.platform.config import Settings
from state_machines.loader import MachineRegistry, default_registry
from tests.evidence_files import image_bytes, jpeg_with_exif, tiny_pdf, tiny_png, upload, upload_photo
from tests.machine_paths import HttpDriver
from tests.test_access_policy import add_user


@pytest.fixture
def data_dir(fresh_data_settings) -> Path:
    return Path(fresh_data_settings.data_dir)


@pytest.fixture
def small_cap(live_server, fresh_data_settings):
    """The live server with ANJIAN_EVIDENCE_MAX_BYTES = 4096 for this test."""
    state = live_server.server.config.app.state
    previous = state.settings
    state.settings = Settings(**{**previous.model_dump(), "evidence_max_bytes": 4096})
    yield state.settings
    state.settings = previous


def stored_files(data_dir: Path) -> list[Path]:
    root = data_dir / storage.EVIDENCE_DIR
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_safe_image(r, media: str) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    assert "html" not in r.headers["content-type"]
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script" not in csp
    assert r.headers["content-disposition"].startswith("inline;")


def test_jpeg_orientation_thumbnail_and_photo_metadata(api, world, clock, data_dir):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "rectifying")
    c = api(world.officer)
    data = jpeg_with_exif(size=(400, 200), orientation=6)
    r = upload(c, case["id"], data, "IMG_0001.JPG", "before", "image/jpeg", note="东侧脚手架连墙件缺失")
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["created"] is True and ev["media_type"] == "image/jpeg" and ev["is_image"] is True
    assert ev["purpose"] == "before" and ev["purpose_label"] == "整改前"
    assert ev["sha256"] == hashlib.sha256(data).hexdigest() and ev["size"] == len(data)
    assert (ev["width"], ev["height"]) == (200, 400)            # upright: portrait
    assert ev["taken_at"] == "2026-11-20T14:03:05" and ev["taken_offset"] == "+08:00"
    assert ev["gps"] == {"lat": pytest.approx(31.315), "lon": pytest.approx(120.63), "alt": 12.5}
    assert ev["camera"] == "HUAWEI P60"
    assert ev["uploaded_by"] == {"id": world.officer.id, "name": world.officer.display_name}
    assert ev["note"] == "东侧脚手架连墙件缺失" and ev["filename"] == "IMG_0001.JPG"
    assert ev["url"] == f"/api/evidence/{ev['id']}" and ev["thumb_url"] == f"/api/evidence/{ev['id']}/thumb"

    thumb = c.get(ev["thumb_url"])
    assert_safe_image(thumb, "image/jpeg")
    im = Image.open(io.BytesIO(thumb.content))
    assert im.format == "JPEG" and im.size == (160, 320)       # rotated, then at most 320 px
    shown = c.get(ev["url"])
    assert_safe_image(shown, "image/jpeg")
    assert Image.open(io.BytesIO(shown.content)).size == (200, 400)
    # the original bytes, exactly as uploaded (their hash is the evidence's), as a download
    original = c.get(ev["url"], params={"original": "true"})
    assert original.status_code == 200 and original.content == data
    assert original.headers["content-disposition"].startswith("attachment;")
    assert original.headers["x-content-type-options"] == "nosniff"
    # stored under the data dir by content hash
    sha = ev["sha256"]
    assert (data_dir / f"evidence/{sha}.jpg").read_bytes() == data
    assert (data_dir / f"evidence/thumbs/{sha}.jpg").exists() and (data_dir / f"evidence/display/{sha}.jpg").exists()
    # the list shows it, with the same metadata
    listed = c.get(f"/api/cases/{case['id']}/evidence").json()["items"]
    assert [x["id"] for x in listed] == [ev["id"]] and listed[0]["gps"] == ev["gps"]
    # an upload is an event on the case (who, when, what) and never makes an open form stale
    events = drv.events(case)
    last = events[-1]
    assert last["action"] == "evidence_added" and last["actor"]["id"] == world.officer.id
    assert last["payload"]["evidence_id"] == ev["id"] and last["payload"]["purpose"] == "before"
    assert last["comment"] == "上传整改前照片：IMG_0001.JPG"
    assert drv.get(case)["version"] == case["version"]


def test_png_webp_heic_and_pdf(api, world, clock, data_dir):
    case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
    c = api(world.officer)
    for fmt, media, name in (("PNG", "image/png", "a.png"), ("WEBP", "image/webp", "b.webp")):
        r = upload(c, case["id"], image_bytes(fmt), name, "after")
        assert r.status_code == 201, r.text
        ev = r.json()
        assert ev["media_type"] == media and (ev["width"], ev["height"]) == (64, 32)
        assert ev["taken_at"] is None and ev["gps"] is None
        assert_safe_image(c.get(ev["url"]), media)           # shown as it is: no display copy
        assert_safe_image(c.get(ev["thumb_url"]), "image/jpeg")
    assert storage.HEIC_SUPPORTED  # pillow-heif is a dependency
    r = upload(c, case["id"], image_bytes("HEIF"), "IMG_0002.HEIC", "review")
    assert r.status_code == 201, r.text
    heic = r.json()
    assert heic["media_type"] == "image/heic" and heic["purpose_label"] == "复查"
    assert_safe_image(c.get(heic["url"]), "image/jpeg")      # browsers cannot show HEIC: a JPEG copy
    assert c.get(heic["url"], params={"original": "true"}).headers["content-type"] == "image/heic"

    pdf = tiny_pdf()
    r = upload(c, case["id"], pdf, "整改报告.pdf", "other", "application/pdf")
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["media_type"] == "application/pdf" and ev["is_image"] is False and ev["thumb_url"] is None
    served = c.get(ev["url"])
    assert served.status_code == 200 and served.content == pdf
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E6%95%B4%E6%94%B9%E6%8A%A5%E5%91%8A.pdf" in served.headers["content-disposition"]
    assert served.headers["x-content-type-options"] == "nosniff"
    r = c.get(f"/api/evidence/{ev['id']}/thumb")
    assert r.status_code == 404 and "没有缩略图" in r.json()["message"]
    assert len(c.get(f"/api/cases/{case['id']}/evidence").json()["items"]) == 4


@pytest.mark.parametrize("name, data, content_type", [
    ("现场.jpg", b"<!doctype html><html><script>alert(document.cookie)</script></html>", "image/jpeg"),
    ("现场.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/png"),
    ("现场.pdf", b"%PDF-1.4 not really a pdf", "application/pdf"),
    ("现场.gif", image_bytes("GIF"), "image/gif"),
    ("现场.jpg", jpeg_with_exif()[:600], "image/jpeg"),   # truncated
    ("空.jpg", b"", "image/jpeg"),
])
def test_content_is_sniffed_not_the_name_or_header(api, world, clock, data_dir, name, data, content_type):
    case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
    c = api(world.officer)
    r = upload(c, case["id"], data, name, "after", content_type)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"].startswith("文件：")
    assert body["errors"][0]["field"] == "file" and body["errors"][0]["label"] == "文件"
    assert c.get(f"/api/cases/{case['id']}/evidence").json()["items"] == []
    assert stored_files(data_dir) == []


def test_form_errors_name_the_fields(api, world, clock, data_dir):
    case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
    c = api(world.officer)
    r = c.post(f"/api/cases/{case['id']}/evidence", data={"purpose": "after"})
    assert r.status_code == 422 and "文件" in r.json()["message"]
    r = upload(c, case["id"], tiny_png(), purpose="sideways")
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "用途"
    assert "after（整改后）" in r.json()["message"]
    r = upload(c, case["id"], tiny_png(), event_id=99999999)
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "所属操作"
    assert stored_files(data_dir) == []


def test_event_id_ties_a_photo_to_an_action(api, world, clock, data_dir, db):
    from sqlalchemy import select

    from cases.models import CaseEvent

    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "rectifying")
    other = drv.drive("hazard", "rectifying")
    with db.session() as s:
        own = s.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case["id"], CaseEvent.action == "start_rectification"))
        foreign = s.scalar(select(CaseEvent.id).where(CaseEvent.case_id == other["id"]))
    c = api(world.officer)
    r = upload(c, case["id"], tiny_png(), event_id=own)
    assert r.status_code == 201 and r.json()["event_id"] == own
    r = upload(c, case["id"], tiny_png((1, 2, 3)), event_id=foreign)
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "所属操作"


def test_oversize_is_refused_and_nothing_is_stored(api, world, clock, small_cap):
    data_dir = Path(small_cap.data_dir)
    case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
    c = api(world.officer)
    noisy = Image.effect_noise((80, 80), 80).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, "PNG")
    big = buf.getvalue()
    assert 4096 < len(big) < 4096 + 64 * 1024
    # over the file cap, inside the body cap: the service refuses it (413, the field named)
    r = upload(c, case["id"], big, "大图.png", "after")
    assert r.status_code == 413, r.text
    assert r.json()["message"].startswith("文件：过大") and r.json()["max_bytes"] == 4096
    # far over: the body cap answers 413 while the body streams, before anything reads it
    r = upload(c, case["id"], big * 40, "更大.png", "after")
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert c.get(f"/api/cases/{case['id']}/evidence").json()["items"] == []
    assert stored_files(data_dir) == []
    assert upload(c, case["id"], tiny_png(), "小图.png").status_code == 201


def test_same_file_is_stored_once(api, world, clock, data_dir):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "rectifying")
    c = api(world.officer)
    first = upload(c, case["id"], tiny_png(), "a.png", "before")
    assert first.status_code == 201
    again = upload(c, case["id"], tiny_png(), "b.png", "before")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"] and again.json()["created"] is False
    # the same bytes as a 整改后 photo would prove nothing
    r = upload(c, case["id"], tiny_png(), "c.png", "after")
    assert r.status_code == 422 and "整改前照片完全相同" in r.json()["message"]
    review = upload(c, case["id"], tiny_png(), "d.png", "review")
    assert review.status_code == 201
    # another case may hold the same photo: one file on disk
    other = drv.drive("hazard", "rectifying")
    assert upload(c, other["id"], tiny_png(), "e.png", "before").status_code == 201
    sha = first.json()["sha256"]
    assert [p.name for p in stored_files(data_dir)] == [f"{sha}.png", f"{sha}.jpg"]  # original, thumbnail
    assert len(c.get(f"/api/cases/{case['id']}/evidence").json()["items"]) == 2
    assert sum(e["action"] == "evidence_added" for e in drv.events(case)) == 2


def test_visibility_is_the_cases(api, world, clock, db, data_dir):
    case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
    ev = upload_photo(api(world.officer), case["id"], "before")
    # the responsible unit's contact reports its rectification with photos, and sees the case's evidence
    own = api(world.contact)
    r = upload(own, case["id"], tiny_png((9, 9, 9)), "完成.png", "after")
    assert r.status_code == 201, r.text
    assert r.json()["uploaded_by"]["id"] == world.contact.id
    assert len(own.get(f"/api/cases/{case['id']}/evidence").json()["items"]) == 2
    assert own.get(ev["url"]).status_code == 200
    # another unit's contact, another county's officer: as if it did not exist
    contact_b = add_user(db, clock, "contact_b", "enterprise", "320506", world.e2.id)
    for user in (contact_b, world.officer_wz):
        c = api(user)
        for url in (f"/api/cases/{case['id']}/evidence", ev["url"], ev["thumb_url"]):
            r = c.get(url)
            assert r.status_code == 404, (user.username, url, r.text)
        assert c.get(f"/api/evidence/{ev['id'] + 1000}").json()["message"] == c.get(ev["url"]).json()["message"].replace(
            str(ev["id"]), str(ev["id"] + 1000))
        assert upload(c, case["id"], tiny_png((5, 5, 5))).status_code == 404
    # an admin reads, does not add
    admin = api(world.admin)
    assert admin.get(ev["url"]).status_code == 200
    r = upload(admin, case["id"], tiny_png((6, 6, 6)))
    assert r.status_code == 403
    assert api(None).get(ev["url"]).status_code == 401


def test_major_hazard_is_verified_only_with_a_rectification_photo(api, world, clock, data_dir):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("major_hazard", "rectifying")
    assert case["machine_version"] == 2
    case = drv.act(case, "apply_review", world.contact)
    assert "verify" not in case["allowed_actions"]
    guard_message = "尚未上传整改后照片，不能核查合格并同意复工"
    r = drv.try_act(case, "verify", with_photo=False)
    assert r.status_code == 409 and r.json()["message"].startswith(guard_message), r.text
    c = api(world.officer)
    # a 整改前 photo, or a PDF as 整改后, is not a rectification photo
    upload_photo(c, case["id"], "before")
    assert upload(c, case["id"], tiny_pdf(), "整改报告.pdf", "after").status_code == 201
    r = drv.try_act(case, "verify", with_photo=False)
    assert r.status_code == 409 and r.json()["message"].startswith(guard_message)
    # the enterprise uploads its 整改后 photo: now the officer may verify
    upload_photo(api(world.contact), case["id"], "after", colour=(250, 250, 0))
    assert "verify" in drv.get(case)["allowed_actions"]
    # … but the check fails: the next round needs a photo of its own
    clock.advance(timedelta(hours=2))
    case = drv.act(drv.get(case), "reject", opinion="连墙件仍未补齐")
    clock.advance(timedelta(days=1))
    case = drv.act(case, "apply_review", world.contact)
    r = drv.try_act(case, "verify", with_photo=False)
    assert r.status_code == 409 and r.json()["message"].startswith(guard_message)
    assert "新一轮" in r.json()["message"]
    upload_photo(api(world.contact), case["id"], "after", colour=(0, 250, 250))
    case = drv.act(drv.get(case), "verify", with_photo=False)
    assert case["state"] == "verified"
    drv.lift_supervision(case)
    case = drv.act(drv.get(case), "close", with_photo=False)
    assert case["state"] == "closed"


def test_the_guard_is_machine_data_on_v2_and_v1_cases_keep_v1(api, world, clock, data_dir):
    v1 = default_registry().get("major_hazard", 1)
    v2 = default_registry().get("major_hazard", 2)
    for action in ("verify", "close"):
        assert "has_rectification_photo" in v2.action(action).guards
        assert "has_rectification_photo" not in v1.action(action).guards
    # a case started while only v1 was published keeps v1 for life: no photo needed
    set_registry(MachineRegistry([d for d in default_registry().all() if (d.kind, d.version) != ("major_hazard", 2)]))
    try:
        drv = HttpDriver(api, world, clock)
        old = drv.drive("major_hazard", "rectifying")
        assert old["machine_version"] == 1
    finally:
        set_registry(None)
    assert get_registry().latest("major_hazard").version == 2
    old = drv.act(old, "apply_review", world.contact)
    old = drv.act(drv.get(old), "verify", with_photo=False)
    assert old["state"] == "verified" and old["machine_version"] == 1


def test_a_decompression_bomb_is_refused_before_it_is_decoded(api, world, clock, data_dir):
    case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
    c = api(world.officer)
    for size in ((10000, 7000), (10000, 9500)):  # over our 60 MP; over Pillow's own warning limit too
        buf = io.BytesIO()
        Image.new("1", size).save(buf, "PNG")   # a few KB that would decode to tens of megapixels
        r = upload(c, case["id"], buf.getvalue(), "bomb.png", "after", "image/png")
        assert r.status_code == 422 and "像素过多" in r.json()["message"], r.text
        assert r.json()["errors"][0]["label"] == "文件"
    assert stored_files(data_dir) == []
