"""Strict JSON for what callers send (contract, section 10).

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` (as infinity), lone surrogates and
non-characters, and nests as deep as its stack allows. None of these can be delivered: SQS
refuses non-characters, receivers' parsers refuse the rest. So they are refused where they come
in, with the reason, and nesting is measured on the text before it is parsed.
"""

import json
import math
import re

MAX_DEPTH = 32
# Lone surrogates, and the non-characters: U+FDD0..U+FDEF and the last two code points of
# every plane (U+FFFE, U+FFFF, U+1FFFE, ...).
_BAD_CODE_POINT = re.compile(
    "[\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(f"\\U{plane:04X}FFFE\\U{plane:04X}FFFF" for plane in range(1, 17))
    + "]"
)
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class StrictJSONError(ValueError):
    """The text is not JSON this service accepts; the message says why, in words for a caller."""


def loads(text):
    """Parse ``text`` as JSON, refusing what cannot be delivered (see the module docstring)."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise StrictJSONError(f"is nested deeper than {MAX_DEPTH} levels")
        elif token in "]}":
            depth -= 1
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except StrictJSONError:
        raise
    except (ValueError, RecursionError) as exc:
        raise StrictJSONError("is not valid JSON") from exc
    check(value)
    return value


def check(value, depth=0):
    """Raise :class:`StrictJSONError` if ``value`` (parsed JSON, or a parameter) holds a bad code
    point, a number that is not a finite 64-bit float, or nests deeper than ``MAX_DEPTH``."""
    if depth > MAX_DEPTH:
        raise StrictJSONError(f"is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if _BAD_CODE_POINT.search(value):
            raise StrictJSONError("holds a lone surrogate or a non-character (such as U+FFFE), which is not text")
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if value.bit_length() > 1023:  # beyond the largest 64-bit float
            raise StrictJSONError("holds a number too large for a 64-bit float")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise StrictJSONError("holds a number that is not finite")
    elif isinstance(value, list):
        for item in value:
            check(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            check(key, depth + 1)
            check(item, depth + 1)


def _refuse_constant(name):
    raise StrictJSONError(f"holds {name}, which is not a JSON number")


def _finite_float(text):
    number = float(text)
    if not math.isfinite(number):
        raise StrictJSONError("holds a number too large for a 64-bit float")
    return number
