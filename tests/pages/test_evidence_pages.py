"""Evidence on the pages over real HTTP (session cookie, CSRF): upload from a form, the files behind
the cookie with the same rules and headers as the API, sniffing and size limits; the partial
``case/_evidence.html`` rendered with escaped user text; and in Chromium, an uploaded photo's
thumbnail shows and links to the upright image."""
from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from api.pages.common import env
from tests.evidence_files import jpeg_with_exif, tiny_pdf, tiny_png, upload, upload_photo
from tests.machine_paths import HttpDriver
from tests.pages.conftest import post_form
from tests.test_access_policy import add_user


def _post(client, case_id: int, data: bytes, filename: str, purpose: str = "after", content_type="image/jpeg",
          **fields):
    return post_form(client, "/", f"/cases/{case_id}/evidence", {"purpose": purpose, **fields},
                     files={"file": (filename, data, content_type)})


def test_upload_from_the_form_then_the_files_behind_the_cookie(pages, api, world, clock, fresh_data_settings):
    case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
    officer = pages(world.officer)
    r = _post(officer, case["id"], jpeg_with_exif(), "IMG_0001.JPG", "before", note="整改前现场")
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case['id']}#evidence"
    assert "anjian_notice" in r.headers["set-cookie"]
    items = api(world.officer).get(f"/api/cases/{case['id']}/evidence").json()["items"]
    assert len(items) == 1 and items[0]["purpose"] == "before" and items[0]["note"] == "整改前现场"
    ev = items[0]
    thumb = officer.get(f"/evidence/{ev['id']}/thumb")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["x-content-type-options"] == "nosniff" and "sandbox" in thumb.headers["content-security-policy"]
    assert Image.open(io.BytesIO(thumb.content)).size == (160, 320)  # orientation 6 applied
    full = officer.get(f"/evidence/{ev['id']}")
    assert full.status_code == 200 and Image.open(io.BytesIO(full.content)).size == (200, 400)
    # the same file again: no second copy, said so
    r = _post(officer, case["id"], jpeg_with_exif(), "again.jpg", "before")
    assert r.status_code == 303
    assert len(api(world.officer).get(f"/api/cases/{case['id']}/evidence").json()["items"]) == 1
    # a PDF is a download
    r = _post(officer, case["id"], tiny_pdf(), "复查意见.pdf", "review", "application/pdf")
    assert r.status_code == 303
    pdf = api(world.officer).get(f"/api/cases/{case['id']}/evidence").json()["items"][-1]
    served = officer.get(f"/evidence/{pdf['id']}")
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"].startswith("attachment;")
    # no session: to the login page
    r = pages(None).get(f"/evidence/{ev['id']}")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_form_is_refused_without_csrf_and_for_bad_files(pages, api, world, clock, db, fresh_data_settings):
    case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
    officer = pages(world.officer)
    assert officer.get("/").status_code == 200
    r = officer.post(f"/cases/{case['id']}/evidence", data={"purpose": "after"},
                     files={"file": ("a.png", tiny_png(), "image/png")})
    assert r.status_code == 403 and "安全校验码" in r.text
    # an HTML page renamed .jpg is refused with the field named; nothing kept
    r = _post(officer, case["id"], b"<html><script>alert(1)</script></html>", "现场.jpg")
    assert r.status_code == 422 and "文件" in r.text and "<script>alert(1)" not in r.text
    r = post_form(officer, "/", f"/cases/{case['id']}/evidence", {"purpose": "after"})
    assert r.status_code == 422 and "请选择要上传的照片或PDF文件" in r.text
    assert api(world.officer).get(f"/api/cases/{case['id']}/evidence").json()["items"] == []
    assert not (Path(fresh_data_settings.data_dir) / "evidence").exists()
    # another unit's contact: the case and its evidence do not exist for it
    photo = upload_photo(api(world.officer), case["id"])
    other = pages(add_user(db, clock, "contact_b", "enterprise", "320506", world.e2.id))
    assert other.get(f"/evidence/{photo['id']}").status_code == 404
    assert other.get(f"/evidence/{photo['id']}/thumb").status_code == 404
    assert _post(other, case["id"], tiny_png((1, 1, 1)), "x.png").status_code == 404
    # the responsible unit's contact uploads its completion photo
    own = pages(world.contact)
    assert _post(own, case["id"], tiny_png((2, 2, 2)), "完成.png", "after", "image/png").status_code == 303
    assert own.get(f"/evidence/{photo['id']}").status_code == 200


def test_the_partial_renders_evidence_with_user_text_escaped():
    evidence = [
        {"id": 7, "purpose": "after", "purpose_label": "整改后", "media_type": "image/jpeg", "is_image": True,
         "filename": "<script>alert(1)</script>.jpg", "note": "<b>已整改</b>", "size": 1000, "width": 200, "height": 400,
         "taken_at": "2026-11-20T14:03:05", "taken_offset": "+08:00", "gps": {"lat": 31.315, "lon": 120.63, "alt": 12.5},
         "camera": "HUAWEI P60", "uploaded_at": "2026-11-23T01:00:00+00:00",
         "uploaded_by": {"id": 1, "name": "李监督"}, "url": "/evidence/7", "thumb_url": "/evidence/7/thumb"},
        {"id": 8, "purpose": "review", "purpose_label": "复查", "media_type": "application/pdf", "is_image": False,
         "filename": "复查意见.pdf", "note": None, "size": 300, "width": None, "height": None, "taken_at": None,
         "taken_offset": None, "gps": None, "camera": None, "uploaded_at": "2026-11-23T02:00:00+00:00",
         "uploaded_by": {"id": 2, "name": "钱工"}, "url": "/evidence/8", "thumb_url": None},
    ]

    class User:
        role = "enterprise"

    html = env.get_template("case/_evidence.html").render(case={"id": 42}, evidence=evidence, user=User(),
                                                           csrf_token="abc")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html and "<b>已整改</b>" not in html
    assert 'href="/evidence/7"' in html and 'src="/evidence/7/thumb"' in html
    assert 'href="/evidence/8" class="evidence-file" download' in html and "下载 复查意见.pdf" in html
    assert "2026年11月20日 14:03" in html and "北纬31.31500°" in html and "东经120.63000°" in html and "海拔12.5米" in html
    assert "李监督 · 2026年11月23日 09:00" in html  # uploaded at, Beijing time
    assert 'action="/cases/42/evidence"' in html and 'enctype="multipart/form-data"' in html
    assert 'name="csrf_token" value="abc"' in html
    assert re.search(r'<option value="after" selected>整改后</option>', html)
    # an admin reads, does not upload; nothing yet says so
    User.role = "admin"
    html = env.get_template("case/_evidence.html").render(case={"id": 42}, evidence=[], user=User(), csrf_token="abc")
    assert "尚无证据材料" in html and "<form" not in html


def test_chromium_shows_the_thumbnail_and_the_upright_photo(browser_page, api, world, clock, fresh_data_settings):
    """No case page yet on this branch: the browser opens the files the partial links to."""
    case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
    ev = upload(api(world.officer), case["id"], jpeg_with_exif(), "IMG.jpg", "after").json()
    page = browser_page(world.contact)
    page.goto(f"/evidence/{ev['id']}")
    size = page.evaluate("() => { const i = document.querySelector('img'); return [i.naturalWidth, i.naturalHeight]; }")
    assert size == [200, 400]
    page.goto(f"/evidence/{ev['id']}/thumb")
    size = page.evaluate("() => { const i = document.querySelector('img'); return [i.naturalWidth, i.naturalHeight]; }")
    assert size == [160, 320]


def test_an_oversize_upload_from_the_form_is_a_413_page(pages, api, world, clock, live_server, fresh_data_settings):
    from cases.platform.config import Settings

    state = live_server.server.config.app.state
    previous = state.settings
    state.settings = Settings(**{**previous.model_dump(), "evidence_max_bytes": 2048})
    try:
        case = HttpDriver(api, world, clock).drive("hazard", "rectifying")
        officer = pages(world.officer)
        noisy = Image.effect_noise((60, 60), 80).convert("RGB")
        buf = io.BytesIO()
        noisy.save(buf, "PNG")
        assert 2048 < len(buf.getvalue()) < 2048 + 64 * 1024
        r = _post(officer, case["id"], buf.getvalue(), "大图.png", "after", "image/png")
        assert r.status_code == 413 and "文件：过大" in r.text and "text/html" in r.headers["content-type"]
        assert api(world.officer).get(f"/api/cases/{case['id']}/evidence").json()["items"] == []
        assert not (Path(state.settings.data_dir) / "evidence").exists()
    finally:
        state.settings = previous
