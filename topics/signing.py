"""Signed JSON documents: the strict parse, the canonical form, Ed25519 sign and verify.

The spec other languages implement is ``docs/signing.md``; this module is its Python side.

* **Strict JSON** (:func:`parse_strict`): UTF-8, one object, no duplicate member names,
  no ``NaN``/``Infinity``, integers within ±(2**53 − 1) (I-JSON, RFC 7493: what every
  language reads exactly), no unpaired surrogates, nesting at most :data:`MAX_DEPTH`.
  Duplicate names matter: JSON parsers disagree on which value wins, so a document with
  them could verify in one language and mean something else in another.
* **Canonical form** (:func:`canonical`): the document without its ``signature`` member,
  serialized by RFC 8785 (JSON Canonicalization Scheme: members sorted by UTF-16 code
  units, ECMAScript number formatting, minimal string escapes, UTF-8). It is computed from
  the document *as received*, so a verifier needs no knowledge of defaults or of how the
  signer printed numbers.
* **Signature**: Ed25519 (RFC 8032) over the canonical bytes, by the key named in the
  document's ``key_id``, written as 128 lowercase hex digits.

The stable API for any signed document (commands, control-plane events, status records):
:func:`sign_document` and :func:`verify_document`, with keys from :mod:`topics.keys`.

``rfc8785`` (PyPI, Trail of Bits) does the canonical serialization; it is pinned below 0.2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn

import rfc8785
from cryptography.exceptions import InvalidSignature

from topics.limits import json_depth_error

if TYPE_CHECKING:
    from topics.keys import KeyRing, PublicKey, SigningKey

MAX_DEPTH: Final = 8
"""Nesting of objects and arrays (a command is 4 deep: command, evidence, item, stats)."""
SAFE_INTEGER: Final = 2**53 - 1
SIGNATURE_FIELD: Final = "signature"
KEY_ID_FIELD: Final = "key_id"
SIGNATURE_RE: Final = re.compile(r"[0-9a-f]{128}")
KEY_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*(?!\n)$"
"""Key ids: ``(?!\\n)`` keeps Python's ``$`` from matching before a trailing newline, so
this pattern means the same in Python and in ECMAScript (JSON Schema)."""

VerifyResult = Literal["ok", "unsigned", "unknown_key", "bad_signature"]


class MalformedError(ValueError):
    """Bytes that are not a document this spec accepts. The message never quotes the
    input beyond a few escaped characters (it may be logged)."""


def _fail(detail: str) -> NoReturn:
    raise MalformedError(detail)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                _fail(f"duplicate member name {printable(name, 40)}")
            seen.add(name)
    return out


def _refuse_constant(name: str) -> NoReturn:
    _fail(f"{name} is not JSON")


def _integer(text: str) -> int:
    if len(text) > 17:  # 2**53 has 16 digits: no need to convert thousands of digits
        _fail("integer out of the range ±(2**53 - 1)")
    value = int(text)
    if abs(value) > SAFE_INTEGER:
        _fail("integer out of the range ±(2**53 - 1)")
    return value


def _number(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        _fail("number out of range")
    return value


def parse_strict(data: bytes, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The JSON object in ``data``, or :class:`MalformedError` saying why not.

    >>> parse_strict(b'{"a": [1, 2.5, "x"]}')
    {'a': [1, 2.5, 'x']}
    >>> parse_strict(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    topics.signing.MalformedError: duplicate member name 'a'
    >>> parse_strict(b'{"n": 9007199254740992}')
    Traceback (most recent call last):
    topics.signing.MalformedError: integer out of the range ±(2**53 - 1)
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        _fail("not bytes")
    data = bytes(data)
    shape = json_depth_error(data, max_depth)  # before parsing: no recursion on any input
    if shape is not None:
        _fail(f"nested deeper than {max_depth}" if "deeper" in shape else f"not JSON: {shape}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"not UTF-8 (byte {exc.start})")
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
            parse_int=_integer,
            parse_float=_number,
        )
    except RecursionError:
        _fail(f"nested deeper than {max_depth}")
    except json.JSONDecodeError as exc:
        _fail(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except ValueError as exc:  # MalformedError, or int() refusing a huge literal
        if isinstance(exc, MalformedError):
            raise
        _fail("number out of range")
    if not isinstance(doc, dict):
        _fail(f"expected a JSON object, got {_json_type(doc)}")
    _check_tree(doc, max_depth)
    return doc


def _json_type(value: object) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "null"
    )


def _check_tree(doc: dict[str, Any], max_depth: int) -> None:
    """Depth and unpaired surrogates (``"\\ud800"`` parses, but is not Unicode text)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            _fail(f"nested deeper than {max_depth}")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for name, value in items:
            if isinstance(name, str):
                _check_text(name)
            if isinstance(value, str):
                _check_text(value)
            elif isinstance(value, dict | list):
                stack.append((value, depth + 1))


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _fail("string with an unpaired surrogate")


def canonical(doc: Mapping[str, Any], field: str = SIGNATURE_FIELD) -> bytes:
    """The bytes a signature covers: RFC 8785 of ``doc`` without ``field``.

    >>> canonical({"b": 1.0, "a": "é", "signature": "..."})
    b'{"a":"\\xc3\\xa9","b":1}'
    """
    body = {name: value for name, value in doc.items() if name != field}
    try:
        return rfc8785.dumps(body)
    except rfc8785.CanonicalizationError as exc:
        raise MalformedError(f"no canonical form: {exc}") from None


def sign_document(
    doc: Mapping[str, Any], key: SigningKey, field: str = SIGNATURE_FIELD
) -> dict[str, Any]:
    """``doc`` with ``key_id`` set to ``key``'s and ``field`` holding the signature.

    >>> from topics.keys import SigningKey
    >>> key = SigningKey.generate("op1", "operator", name="ana")
    >>> signed = sign_document({"x": 1}, key)
    >>> sorted(signed), len(signed["signature"])
    (['key_id', 'signature', 'x'], 128)
    >>> verify_document(signed, key.ring())[0]
    'ok'
    >>> verify_document({**signed, "x": 2}, key.ring())[0]
    'bad_signature'
    """
    body = {name: value for name, value in doc.items() if name != field}
    body[KEY_ID_FIELD] = key.key_id
    body[field] = key.sign(canonical(body, field))
    return body


def verify_document(
    doc: Mapping[str, Any], ring: KeyRing, field: str = SIGNATURE_FIELD
) -> tuple[VerifyResult, PublicKey | None]:
    """Whether ``doc`` (as parsed from the wire) carries a valid signature by a key of
    ``ring``, and that key. Which key may sign what is :mod:`topics.authority`'s question.

    Raises :class:`MalformedError` when ``doc`` has no canonical form (callers that got it
    from :func:`parse_strict` never see that)."""
    key_id, signature = doc.get(KEY_ID_FIELD), doc.get(field)
    if not key_id or not signature:
        return "unsigned", None
    if not isinstance(key_id, str) or not isinstance(signature, str):
        return "bad_signature", None
    key = ring.get(key_id)
    if key is None:
        return "unknown_key", None
    if not SIGNATURE_RE.fullmatch(signature):
        return "bad_signature", key
    try:
        key.verify(bytes.fromhex(signature), canonical(doc, field))
    except InvalidSignature:
        return "bad_signature", key
    return "ok", key


_UNPRINTABLE: Final = re.compile(r"[^\x20-\x7e]")


def escape(text: str, limit: int = 200) -> str:
    """``text`` with control and non-ASCII characters escaped (``\\n``, ``\\x1b``,
    ``\\u2028``), cut to ``limit`` characters: safe in a log line (no newline injection,
    no terminal escapes).

    >>> print(escape("a\\nFAKE LINE"))
    a\\nFAKE LINE
    """
    cut = text[:limit]
    escaped = _UNPRINTABLE.sub(lambda m: m.group(0).encode("unicode_escape").decode(), cut)
    return escaped + ("..." if len(text) > limit else "")


def printable(text: str, limit: int = 80) -> str:
    """:func:`escape` in quotes, to show a value from the input.

    >>> print(printable("x\\n"))
    'x\\n'
    """
    return "'" + escape(text.replace("'", "\\'"), limit) + "'"
