"""Limits on untrusted JSON, checked before a parser sees it.

A JSON parser that recurses (msgspec does, as Python code would) turns deep nesting into a
``RecursionError``: a 2 KB message of 1,000 nested brackets raised one out of the ingest's
routing, which then retried it forever. :func:`json_shape_error` refuses such input before
any parsing, so every reader of untrusted JSON (telemetry, control commands, webhook bodies)
can dead-letter or refuse it with a reason instead.

rollguard's own messages nest at most 6 deep (a by-rollout bundle holding a producer's batch
whose events carry segment labels); ``MAX_JSON_DEPTH`` leaves room for producers' extra
fields and stays far below the ~1,000 levels where a recursive parser fails.

>>> json_shape_error(b'{"a": [1, {"b": null}]}')
>>> json_shape_error(b"[" * 1000 + b"]" * 1000)
'JSON nested deeper than 32 levels'
>>> json_shape_error(b"x" * 11, max_bytes=10)
'11 bytes > limit 10'
"""

from __future__ import annotations

import re
from typing import Final

MAX_JSON_DEPTH: Final = 32
"""Deepest nesting of arrays and objects accepted in untrusted JSON."""

_STRUCTURE: Final = b'[]{}"\\'
_NOT_STRUCTURE: Final = bytes(c for c in range(256) if c not in _STRUCTURE)
# possessive: linear on any input, also on a string that never ends
_STRING: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS: Final = bytes(c for c in range(256) if c not in b"[]{}")
_ONE_KIND: Final = bytes.maketrans(b"{}", b"[]")


def json_depth_error(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why the arrays and objects of ``data`` cannot be parsed safely: nested deeper than
    ``max_depth``, or brackets outside strings that do not pair up (not JSON); else None.
    Never parses.

    Cost: a byte search and a count when there are at most ``max_depth`` opening brackets
    (one event); for a batch message, byte-level ``translate``/``count``/``replace`` passes
    (no Python loop over its bytes), about 0.2 µs per event of 130 bytes.

    >>> json_depth_error(b'{"note": "[[[[[[", "a": [[1]]}', max_depth=3)
    >>> json_depth_error(b'[[[[1]]]]', max_depth=3)
    'JSON nested deeper than 3 levels'
    >>> json_depth_error(b'["]]]]", [[[[1]]]], "[[[["]', max_depth=3)
    'JSON nested deeper than 3 levels'
    >>> json_depth_error(b'[[[[1]]', max_depth=3)
    'JSON brackets do not pair up'
    """
    opening = data.count(b"{")
    if opening <= max_depth and (b"[" not in data or opening + data.count(b"[") <= max_depth):
        return None
    marks = data.translate(None, _NOT_STRUCTURE)  # brackets, quotes and backslashes, in order
    if b"\\" not in marks and 2 * marks.count(b'""') == marks.count(b'"'):
        # no escapes, and every string shows as "" here: no string holds a bracket
        brackets = marks.translate(_ONE_KIND, b'"')
    else:  # strings hold brackets or escapes: cut them out exactly (C-level regex)
        brackets = _STRING.sub(b"", data).translate(_ONE_KIND, _NOT_BRACKETS)
    # one kind of bracket now (a mismatch is the parser's to refuse; its depth is the same)
    for _ in range(max_depth):  # each pass removes the innermost level everywhere
        if not brackets:
            return None
        before = len(brackets)
        brackets = brackets.replace(b"[]", b"")
        if len(brackets) == before:
            return "JSON brackets do not pair up"
    return f"JSON nested deeper than {max_depth} levels" if brackets else None


def json_shape_error(
    data: bytes, *, max_bytes: int | None = None, max_depth: int = MAX_JSON_DEPTH
) -> str | None:
    """Why ``data`` must not be parsed (too big, too deep), or None."""
    if max_bytes is not None and len(data) > max_bytes:
        return f"{len(data)} bytes > limit {max_bytes}"
    return json_depth_error(data, max_depth)
