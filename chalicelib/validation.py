"""Checks of the values callers give: IDs, Unix seconds, webhook types, a webhook's description.
Each returns the value in its one form, or raises :class:`InvalidParameter` naming the parameter."""

import re
import unicodedata

from chalicelib.catalog import ALL_TYPES, CATALOG, TYPE_NAMES, level_types
from chalicelib.errors import InvalidParameter

MAX_ID_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 200
_PRINTABLE_ID = re.compile(r"^[^\x00-\x1f\x7f-\x9f]+$")
# Not printable text: controls (tabs and line breaks too), line and paragraph separators,
# surrogates, private use and unassigned code points, and the invisible format characters
# (bidirectional overrides, zero-width spaces) that make a description read other than it is.
_NOT_PRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Format characters that written text needs: the joiners of emoji sequences and of some scripts.
_JOINERS = frozenset({"\u200c", "\u200d"})


def check_identifier(value, name):
    """An ID as the platform gives it (a string, or a whole number), returned as a string."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, int) and value < 0):
        raise InvalidParameter(f"{name} must be a string", field=name)
    if isinstance(value, int) and value >= 10**MAX_ID_LENGTH:
        raise InvalidParameter(f"{name} must be at most {MAX_ID_LENGTH} characters", field=name)
    text = str(value)
    if not text or not text.strip():
        raise InvalidParameter(f"{name} must not be empty", field=name)
    if len(text) > MAX_ID_LENGTH:
        raise InvalidParameter(f"{name} must be at most {MAX_ID_LENGTH} characters", field=name)
    if not _PRINTABLE_ID.match(text) or text != text.strip():
        raise InvalidParameter(f"{name} must not contain control characters or surrounding spaces", field=name)
    return text


def check_unix_seconds(value, name="date"):
    """Unix seconds, given as a whole number or a string of ASCII digits; returned as a string."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, int) and not 0 <= value < 10**11):
        raise InvalidParameter(f"{name} must be Unix seconds, such as 1764273600", field=name)
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 11:
        raise InvalidParameter(f"{name} must be Unix seconds, such as 1764273600", field=name)
    return str(int(text))


def check_type(value, level=None, name="type"):
    """The :class:`~chalicelib.catalog.WebhookType` named ``value``; with ``level``, one that a
    webhook of that level may take. Else a 400 on ``name``."""
    webhook_type = CATALOG.get(value) if isinstance(value, str) else None
    if webhook_type is None:
        raise InvalidParameter(f"{name} must be a type of the catalog (webhook.types lists them), such as "
                               f"{TYPE_NAMES[8]}", field=name, code="invalid_type")
    if level is not None and level not in webhook_type.levels:
        raise InvalidParameter(f"{value} webhooks exist at the {' and '.join(webhook_type.levels)} level only: "
                               f"give {'companyID' if level == 'event' else 'eventID'} instead", field=name,
                               code="invalid_type")
    return webhook_type


def check_types(names, level, name="types"):
    """A webhook's ``types`` (contract, section 17): the names given (``names``, a list of strings),
    each a type of the catalog allowed at ``level``, none twice; or ``*`` alone. Returned in
    catalog order, or ``("*",)``. Else a 400 on ``name``."""
    if not names:
        raise InvalidParameter(f"{name} must name one type or more, or *", field=name, code="invalid_type")
    if ALL_TYPES in names:
        if len(names) > 1:
            raise InvalidParameter(f"* takes every type of the level: it stands alone in {name}", field=name,
                                   code="invalid_type")
        return (ALL_TYPES,)
    seen = set()
    for given in names:
        check_type(given, level, name)
        if given in seen:
            raise InvalidParameter(f"{name} names {given} twice", field=name, code="invalid_type")
        seen.add(given)
    return tuple(t for t in level_types(level) if t in seen)


def check_description(value, name="description"):
    """A webhook's description: 0 to 200 characters of printable text (letters, digits,
    punctuation, symbols, spaces, emoji), as given; ``""`` for none."""
    if not isinstance(value, str):
        raise InvalidParameter(f"{name} must be text", field=name)
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise InvalidParameter(f"{name} must be at most {MAX_DESCRIPTION_LENGTH} characters (it has {len(value)})",
                               field=name)
    for position, character in enumerate(value, 1):
        if character not in _JOINERS and unicodedata.category(character) in _NOT_PRINTABLE:
            raise InvalidParameter(f"{name} must be printable text: character {position} is U+{ord(character):04X}, "
                                   "a control or invisible character", field=name)
    return value
