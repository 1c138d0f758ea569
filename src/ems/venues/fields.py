"""Fields of venue JSON read with the types the decoders promise.

Venues send ids, prices and quantities as JSON strings (some ids and times as numbers).
A field of any other JSON type makes the message malformed: ValueError, as the core's
scanners raise for bad bytes, so that a stream handler drops the message and goes on
instead of passing a list or a dict into the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def text(obj: Mapping[str, Any], key: str, default: str = "") -> str:
    """A text field; an integer is read as its decimal text; absent or null: `default`."""
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"field {key!r}: expected text, got {type(value).__name__}")


def optional_text(obj: Mapping[str, Any], key: str) -> str | None:
    """A text field, or None when absent or null ("" stays "")."""
    return None if obj.get(key) is None else text(obj, key)


def millis(*values: object) -> int:
    """The first non-empty of `values` as an integer (a venue time in ms), else 0."""
    for value in values:
        if value is None or value == "" or value == 0:
            continue
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"expected a time in ms, got {type(value).__name__}")
        return int(value)
    return 0


def child(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object; absent or null: an empty one."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"field {key!r}: expected an object, got {type(value).__name__}")
    return value
