"""Keeping API keys out of everything we print or store, fragments included.

An API that echoes part of a key (the key minus its last characters, a key cut at a line break)
defeats an exact-match replace. So every run of `FRAGMENT` or more consecutive characters of any
key this process has been given is replaced: each key contributes all its `FRAGMENT`-character
substrings to one set, and a message is scanned window by window against it (linear in the length
of the message, whatever the number of keys).

Keys are remembered process-wide, when a client is built, because the messages that need
redacting are made far from the client: load-log rows, Dagster failure descriptions, CLI lines.
"""

from __future__ import annotations

import re
import threading

FRAGMENT = 8
REDACTED = "[redacted]"
# What we show of an `api_key_env` value: a conventional variable name, or nothing (a value of
# another shape may be a key pasted where its variable's name belongs).
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}\Z")

_lock = threading.Lock()
_fragments: frozenset[str] = frozenset()
_short_keys: frozenset[str] = frozenset()


def remember_key(key: str | None) -> None:
    """Redact this key, and every `FRAGMENT`-character piece of it, from now on."""
    global _fragments, _short_keys
    if not key:
        return
    with _lock:
        if len(key) < FRAGMENT:
            _short_keys = _short_keys | {key}
        else:
            _fragments = _fragments | {key[i:i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1)}


def redact(text: str) -> str:
    """`text` with every run of `FRAGMENT`+ characters of a remembered key replaced by [redacted]."""
    fragments, short_keys = _fragments, _short_keys
    if not text or not (fragments or short_keys):
        return text
    for key in short_keys:
        text = text.replace(key, REDACTED)
    spans = _key_spans(text, fragments)
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], REDACTED]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _key_spans(text: str, fragments: frozenset[str]) -> list[tuple[int, int]]:
    """Merged [start, end) ranges of `text` covered by a key fragment."""
    spans: list[tuple[int, int]] = []
    for i in range(len(text) - FRAGMENT + 1):
        if text[i:i + FRAGMENT] in fragments:
            if spans and i <= spans[-1][1]:
                spans[-1] = (spans[-1][0], i + FRAGMENT)
            else:
                spans.append((i, i + FRAGMENT))
    return spans


def redact_echoes(payload: object, body: str, key: str) -> object:
    """`payload` (the decoded `body` of a response to a request made with `key`) with every string
    redacted, keys of objects included, when the body holds a piece of that key; else `payload` as it
    is. The check is a few substring searches, so the common case costs nothing measurable."""
    if not key or not any(key[i:i + FRAGMENT] in body for i in range(0, max(len(key) - FRAGMENT, 0) + 1)):
        return payload
    return _redacted(payload)


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {redact(k): _redacted(v) for k, v in value.items()}
    return value


def shown_env_name(name: str | None, fallback: str = "the variable named by its api_key_env") -> str:
    """`name` if it looks like an environment variable's name, else `fallback`: a value of another
    shape may be the key itself, pasted where the variable's name belongs."""
    if name and _ENV_NAME.match(name):
        return redact(name)
    return fallback


def forget_all_keys() -> None:
    """For tests: start again with no remembered key."""
    global _fragments, _short_keys
    with _lock:
        _fragments, _short_keys = frozenset(), frozenset()
