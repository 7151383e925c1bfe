"""What one `/usage/details` response body holds: its `data` rows, and the link to the next page.

Pagination is undocumented: a `next` / `next_url` / `next_page` URL is followed, same origin only (the
API key is never sent elsewhere); `has_more: true` without one is an error, as rows would be lost.
Every problem is raised by the client's `malformed(what, **kw)`, which names the tenant and endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urljoin

from aurion_pipeline.source import errors
from aurion_pipeline.source.transport import origin, origin_text

NEXT_KEYS = ("next", "next_url", "next_page")
Malformed = Callable[..., errors.MalformedResponseError]


def data_rows(payload: object, malformed: Malformed) -> list[dict]:
    if not isinstance(payload, dict):
        raise malformed(f"the top level is a JSON {errors.json_type(payload)}, not an object")
    data = payload.get("data")
    if not isinstance(data, list):
        raise malformed("data is missing" if "data" not in payload
                        else f"data is not a list (it is a JSON {errors.json_type(data)})")
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise malformed(f"data[{i}] is not an object (it is a JSON {errors.json_type(row)})")
    return data


def next_page(payload: dict, url: str, base_url: str, malformed: Malformed) -> str | None:
    """The absolute URL of the next page, or None on the last page."""
    link = next((payload[k] for k in NEXT_KEYS if payload.get(k)), None)
    smaller = "lower AURION_MAX_RANGE_DAYS so one response holds a whole window"
    if link is None:
        if payload.get("has_more") is True:
            raise malformed("has_more is true but there is no next link", fix=smaller)
        return None
    if not isinstance(link, str):
        raise malformed(f"the next-page field is a JSON {errors.json_type(link)}, not a URL", fix=smaller)
    target = urljoin(url, link)
    if origin(target) != origin(base_url):
        raise malformed(f"the next-page link points to another host ({origin_text(target)})",
                        fix="the API key is not sent there; set AURION_BASE_URL to that host")
    return target
