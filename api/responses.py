"""The default JSON response: the same JSON as Starlette's JSONResponse, serialised by orjson.

FastAPI first turns a route's return value into plain JSON types (``jsonable_encoder``, on the
event loop) and this class does the last step, ``dumps``, which orjson does ~5x faster (1.8 ms →
0.4 ms for a 120 KB list of 200 cases here: docs/performance.md "Reads"). Not FastAPI's
``ORJSONResponse``: deprecated in the FastAPI we run. Output: UTF-8 (Chinese as is, like
``ensure_ascii=False``), compact separators.

``fast_json(body)``: the big reads return their body through it, which skips ``jsonable_encoder``
(3 ms for a page of 50 case summaries, 10 ms for 200 — 13x orjson's whole dump) and gives the same
bytes: instants and dates are written by ``isoformat()`` exactly as ``jsonable_encoder`` writes
them, anything else orjson does not know goes through ``jsonable_encoder`` itself
(tests/test_reads.py::test_fast_json_routes_give_the_same_bytes compares route by route).
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import orjson
from fastapi.encoders import jsonable_encoder
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()  # jsonable_encoder's form (orjson's own differs for naive/odd offsets)
    encoded = jsonable_encoder(value)
    if encoded is value or type(encoded) is type(value):
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")
    return encoded


class OrjsonResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default, option=_OPTIONS)


def fast_json(content: Any, status_code: int = 200) -> OrjsonResponse:
    """Return this from a route to skip FastAPI's ``jsonable_encoder``: the same JSON, sooner."""
    return OrjsonResponse(content, status_code=status_code)
