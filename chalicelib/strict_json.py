"""Strict JSON for what callers send (contract, section 10).

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` (as infinity), lone surrogates and
non-characters, and nests as deep as its stack allows. None of these can be delivered: SQS
refuses non-characters, receivers' parsers refuse the rest. So they are refused where they come
in, with the reason.

Every step is linear in the size of the input, whatever it holds (an unclosed string full of
escapes, deep nesting, long numbers, many keys): :func:`parse` is Python's C parser alone, so
the HTTP edge can read a body before it knows who sent it; :func:`check` then walks the value
once, level by level.
"""

import json
import math
import re

MAX_DEPTH = 32  # levels of arrays and objects, the outermost counting as one
# Lone surrogates, and the non-characters: U+FDD0..U+FDEF and the last two code points of
# every plane (U+FFFE, U+FFFF, U+1FFFE, ...).
_BAD_CODE_POINT = re.compile(
    "[\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(f"\\U{plane:04X}FFFE\\U{plane:04X}FFFF" for plane in range(1, 17))
    + "]"
)
_TOO_DEEP = f"is nested deeper than {MAX_DEPTH} levels"


class StrictJSONError(ValueError):
    """The text is not JSON this service accepts; the message says why, in words for a caller."""


def parse(text):
    """Parse ``text`` as JSON without the checks of :func:`check` (but refusing ``NaN`` and
    ``Infinity``, and nesting past the interpreter's limit). Linear in ``len(text)``."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except StrictJSONError:
        raise
    except RecursionError as exc:  # far deeper than MAX_DEPTH: the C parser stops at about 1000
        raise StrictJSONError(_TOO_DEEP) from exc
    except ValueError as exc:
        raise StrictJSONError("is not valid JSON") from exc


def loads(text):
    """Parse ``text`` as JSON, refusing what cannot be delivered (see the module docstring)."""
    value = parse(text)
    check(value)
    return value


def check(value):
    """Raise :class:`StrictJSONError` if ``value`` (parsed JSON, or a parameter) holds a bad code
    point, a number that is not a finite 64-bit float, or nests deeper than ``MAX_DEPTH``.

    One pass, a level at a time; the strings and numbers of a level are checked together, so
    the cost per value is a few steps of the interpreter, whatever their number or size.
    """
    level = [value]
    for depth in range(MAX_DEPTH + 1):  # the outermost value is at depth 0
        strings, integers, floats, inner = [], [], [], []
        containers = False
        for item in level:
            kind = type(item)
            if kind is str:
                strings.append(item)
            elif kind is int:
                integers.append(item)
            elif kind is float:
                floats.append(item)
            elif isinstance(item, dict):
                containers = True
                inner.extend(item)
                inner.extend(item.values())
            elif isinstance(item, (list, tuple)):
                containers = True
                inner.extend(item)
            elif isinstance(item, str):
                strings.append(str(item))
            elif isinstance(item, bool) or item is None:
                pass
            elif isinstance(item, int):
                integers.append(int(item))
            elif isinstance(item, float):
                floats.append(float(item))
        # Joining cannot make a code point: a bad one is found in the string that holds it.
        if _BAD_CODE_POINT.search("".join(strings)):
            raise StrictJSONError("holds a lone surrogate or a non-character (such as U+FFFE), which is not text")
        if integers and max(map(abs, integers)).bit_length() > 1023:  # beyond the largest 64-bit float
            raise StrictJSONError("holds a number too large for a 64-bit float")
        if not math.isfinite(sum(map((0.0).__mul__, floats))):  # x * 0.0 is 0.0 for a finite x, else NaN
            raise StrictJSONError("holds a number that is not finite")
        if containers and depth == MAX_DEPTH:  # an array or object at level MAX_DEPTH + 1
            raise StrictJSONError(_TOO_DEEP)
        if not inner:
            return
        level = inner


def _refuse_constant(name):
    raise StrictJSONError(f"holds {name}, which is not a JSON number")
