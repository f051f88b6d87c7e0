"""Untrusted numbers and text from URLs, query strings and forms, checked in one place before
they reach the database (issue 10 item 7).

- ids in paths: the app's `<int:...>` converter is `IdConverter`: ASCII digits, at most 10,
  at most INT32_MAX (every id column is `Integer`), so an id no row can have is an ordinary
  404 instead of an overflow in PostgreSQL or in Python's sqlite3 driver.
- numbers in query strings: `bounded_int()` parses ASCII digits of bounded length only
  (`str.isdigit()` accepts "²", which `int()` refuses; a very long run of digits costs `int()`
  quadratic time); the API turns a bad one into a 422 naming the field, the workbench into a 400.
- NUL: PostgreSQL's text type cannot hold U+0000, so a query or form value carrying one is
  refused for the whole app before any view runs (`refuse_nul`): 422 naming the field under
  `/api/`, the workbench's 400 page elsewhere. The callback receiver is a WSGI layer in front
  of Flask and never reaches this hook.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.routing import IntegerConverter

INT32_MAX = 2**31 - 1
_MAX_DIGITS = 10


class BadInput(ValueError):
    """A query or form value the app refuses: `field` names it (DESIGN §3's `field`)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class IdConverter(IntegerConverter):
    """`<int:id>` bounded to the database's integer range: anything else does not match (404)."""

    regex = r"[0-9]{1,%d}" % _MAX_DIGITS  # werkzeug's \d+ also matches non-ASCII digits, unbounded

    def __init__(self, map, **_options):  # the app's routes take no options
        super().__init__(map, min=0, max=INT32_MAX)


def bounded_int(raw: str | None, *, minimum: int = 0, maximum: int = INT32_MAX) -> int | None:
    """`raw` as an int when it is ASCII digits within [minimum, maximum], else None."""
    if raw is None or not (0 < len(raw) <= _MAX_DIGITS and raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if minimum <= value <= maximum else None


def form_id(value) -> int:
    """WTForms `coerce` for an id chosen in a form: a ValueError (the field's own error) when out of range."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT32_MAX:
        return value
    number = bounded_int(value if isinstance(value, str) else None)
    if number is None:
        raise ValueError("not an id")
    return number


def int_arg(name: str, *, default: int | None = None, minimum: int = 0, maximum: int = INT32_MAX) -> int | None:
    """`?name=` as a bounded int; `default` when absent or empty; BadInput when it is anything else."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = bounded_int(raw, minimum=minimum, maximum=maximum)
    if value is None:
        raise BadInput(name, f"must be an integer from {minimum} to {maximum}")
    return value


def refuse_nul() -> None:
    """before_request: no query or form value (or name) may contain U+0000."""
    if b"%00" in request.query_string or b"\x00" in request.query_string:
        _check(request.args)
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        _check(request.form)


def _check(values) -> None:
    for name, value in values.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise BadInput(name.replace("\x00", ""), "must not contain a NUL character")


def install(app: Flask) -> None:
    """Before any route is added: the bounded id converter, and the NUL check."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_nul)
