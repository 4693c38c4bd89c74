"""Name fields (rollout ids, LPs, venues, symbols, segment keys, ...): ``NAME_PATTERN``,
checked just after decoding instead of during it.

msgspec checks a ``pattern`` by calling Python's ``re`` for every value: about 0.25 µs each,
1.2 µs per order, as much as the rest of its typed decode (``python -m tests.bench.decode``).
Names repeat — a few rollouts, venues, LPs and segment keys — so a value once found valid is
looked up in a set; only a new value meets the regex. The JSON Schema still states the
pattern (``extra_json_schema``) and a failure reads as msgspec's own message. One difference
from checking while decoding: of duplicate JSON keys only the value kept (the last) is checked.

Python's ``$`` also matches before a final newline, so ``re.search(NAME_PATTERN, "r1\\n")``
matches while JSON Schema's (ECMA-262, no multiline) refuses it: names are checked with
``fullmatch``, which agrees with the schema (``tests/unit/topics/test_names_agree.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, Final

import msgspec
import msgspec.inspect as mi

NAME_PATTERN: Final = r"^[A-Za-z0-9_.:/@+-]+$"
_NAME: Final = re.compile(NAME_PATTERN)
_EXPECTED: Final = f"Expected `str` matching regex {NAME_PATTERN!r}"
_KNOWN_MAX: Final = 100_000  # many distinct names (hostile input): start over, stay bounded

_known: set[object] = {None}


class _Fields:
    """Where a struct type keeps names: plain fields and dicts keyed by names."""

    def __init__(self, cls: type) -> None:
        info = mi.type_info(cls)
        assert isinstance(info, mi.StructType)
        self.plain: list[tuple[str, str]] = []  # (attribute, JSON name)
        self.keyed: list[tuple[str, str]] = []
        for f in info.fields:
            if _is_name(f.type):
                self.plain.append((f.name, f.encode_name))
            elif any(_is_name(t.key_type) for t in _options(f.type) if isinstance(t, mi.DictType)):
                self.keyed.append((f.name, f.encode_name))
        names = [name for name, _ in self.plain]
        # attrgetter of two or more names returns a tuple (a set can take it whole)
        self.values: Callable[[Any], tuple[Any, ...]] = (
            (attrgetter(*names, *names) if len(names) == 1 else attrgetter(*names))
            if names
            else (lambda _: ())
        )
        self.dicts: Callable[[Any], tuple[Any, ...]] = (
            attrgetter(*[name for name, _ in self.keyed] * 2) if self.keyed else (lambda _: ())
        )


_FIELDS: dict[type, _Fields] = {}


def _options(t: mi.Type) -> list[mi.Type]:
    """The types a field may hold: unions spread, constraints (``Metadata``) unwrapped."""
    options = list(t.types) if isinstance(t, mi.UnionType) else [t]
    return [o.type if isinstance(o, mi.Metadata) else o for o in options]


def _is_name(t: mi.Type) -> bool:
    options = list(t.types) if isinstance(t, mi.UnionType) else [t]
    return any(
        isinstance(o, mi.Metadata)
        and isinstance(o.type, mi.StrType)
        and (o.extra_json_schema or {}).get("pattern") == NAME_PATTERN
        for o in options
    )


def _fields(cls: type) -> _Fields:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = _Fields(cls)
    return found


def names_known(events: Iterable[msgspec.Struct]) -> bool:
    """True when every name in ``events`` was found valid before (the usual case); False
    means "look closer" with :func:`name_error`, not "invalid".

    >>> from topics.events import Metric
    >>> e = Metric(v=1, rollout_id="r1", variant="canary", ts=1.7e9, name="cpu", value=1.0)
    >>> name_error(e), names_known([e])
    (None, True)
    """
    known = _known
    for event in events:
        fields = _FIELDS.get(type(event)) or _fields(type(event))
        if not known.issuperset(fields.values(event)):
            return False
        for names in fields.dicts(event):
            if names and not known.issuperset(names):
                return False
    return True


def name_error(event: msgspec.Struct) -> str | None:
    """msgspec's message for the first name of ``event`` not matching NAME_PATTERN, else None.

    >>> from topics.events import Metric
    >>> name_error(Metric(v=1, rollout_id="r 1", variant="canary", ts=1.7e9, name="x", value=1.0))
    "Expected `str` matching regex '^[A-Za-z0-9_.:/@+-]+$' - at `$.rollout_id`"
    >>> name_error(Metric(v=1, rollout_id="r1", variant="canary", ts=1.7e9, name="x", value=1.0,
    ...                   segment={"re gion": "eu"}))
    "Expected `str` matching regex '^[A-Za-z0-9_.:/@+-]+$' - at `key` in `$.segment`"
    """
    fields = _fields(type(event))
    if len(_known) > _KNOWN_MAX:
        _known.clear()
        _known.add(None)
    for attribute, json_name in fields.plain:
        value = getattr(event, attribute)
        if value not in _known:
            if not _NAME.fullmatch(value):
                return f"{_EXPECTED} - at `$.{json_name}`"
            _known.add(value)
    for attribute, json_name in fields.keyed:
        for key in getattr(event, attribute) or ():
            if key not in _known:
                if not _NAME.fullmatch(key):
                    return f"{_EXPECTED} - at `key` in `$.{json_name}`"
                _known.add(key)
    return None


_NAME_BYTES: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/@+-"
_STRUCTURE: Final = b'{}[],"'


def names_proven(data: bytes) -> bool:
    """True when every string in ``data`` — JSON that msgspec has already decoded — is made
    of name characters only, so every name in it matches NAME_PATTERN (msgspec's own
    ``min_length=1`` refuses an empty one). False means "look closer", not "invalid".

    A byte scan instead of a look at each decoded event (:func:`names_known`, whose attribute
    reads cost ~0.4 µs an event): without a backslash every ``"`` delimits a string, so the
    strings are what lies between the 2k-th and the next quote. Deleting the name characters
    (numbers, ``true``/``false``/``null`` and ``:`` go with them) leaves each all-name string
    as ``""`` next to the ``{}[],`` between them; any other string keeps a character between
    its quotes, and that breaks the pairing which ``count`` checks, left to right.

    >>> names_proven(b'{"rollout_id":"r-1","segment":{"region":"eu"},"ts":1.7e9,"x":null}')
    True
    >>> [names_proven(b) for b in (b'{"id":"a b"}', b'{"id":"a,b"}', b'{"id":"\\\\u0041"}',
    ...                            b'{"id":"caf\\xc3\\xa9"}', b'{"a":"",",":1}', b'{"a": 1}')]
    [False, False, False, False, False, False]
    """
    if b"\\" in data:
        return False
    rest = data.translate(None, _NAME_BYTES)
    return 2 * rest.count(b'""') == rest.count(b'"') and not rest.translate(None, _STRUCTURE)
