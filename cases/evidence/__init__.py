"""Evidence (证据材料): photos and PDFs attached to a case or to one of its actions.

- ``services``: add, list and read evidence under the case's visibility rules (who may upload: the
  case's staff and the responsible unit's contacts), each upload an ``evidence_added`` event;
  ``has_rectification_photo`` for the major-hazard guard (cases/ledger/guards.py).
- ``storage``: the files — type sniffed from the content (Pillow / PDF magic), EXIF time and place,
  orientation applied to the display image and the thumbnail, stored by SHA-256 under the data dir.

``PURPOSES``: what a piece of evidence shows, with its Chinese label.
"""
from __future__ import annotations

PURPOSES: dict[str, str] = {
    "before": "整改前",
    "after": "整改后",
    "review": "复查",
    "other": "其他",
}
