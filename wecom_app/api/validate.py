"""A small declarative validator for JSON request bodies (DESIGN §3: "422 an
invalid field (named)").

    SCOPE = Object(departments=optional(ListOf(Integer(minimum=1)), default=list), ...)
    GROUP = Object(name=String(max_length=50), scope=SCOPE, allow_external=optional(Boolean(), default=False))
    data = validate(GROUP, body)          # a clean dict, defaults filled in; or raises Invalid

`Invalid.errors` is every problem found, in field order, as (path, message)
pairs; a path is dotted with list indexes (`scope.departments[2]`). Unknown
fields are problems too, so a typo never silently falls back to a default.
Messages name the expected shape and never echo the submitted value (it may be
a secret, such as a robot webhook key). A new kind is a `Kind` subclass whose
`clean(value, path)` returns the cleaned value or raises `Invalid.at(path, msg)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from wecom_app.wecom import textlimits

MISSING: Any = object()
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # \t and \n are allowed only where multiline=True
INT32_MAX = 2**31 - 1


class Invalid(ValueError):
    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))
        self.errors = errors

    @classmethod
    def at(cls, path: str, message: str) -> Invalid:
        return cls([(path, message)])


class Kind:
    def clean(self, value: Any, path: str) -> Any:  # pragma: no cover - interface
        raise NotImplementedError


class Field:
    """A kind plus whether the field may be left out (then `default`, called if callable)."""

    def __init__(self, kind: Kind, *, required: bool = True, default: Any = MISSING):
        self.kind, self.required, self.default = kind, required, default

    def missing_value(self) -> Any:
        return self.default() if callable(self.default) else self.default


def optional(kind: Kind, default: Any = None) -> Field:
    """An optional field; an explicit JSON null counts as left out."""
    return Field(kind, required=False, default=default)


class String(Kind):
    def __init__(self, max_length: int, *, min_length: int = 1, pattern: str | None = None,
                 pattern_message: str | None = None, strip: bool = True, lower: bool = False,
                 multiline: bool = False, check: Callable[[str], str | None] | None = None,
                 max_bytes: int | None = None):
        self.max_length, self.min_length, self.strip, self.lower = max_length, min_length, strip, lower
        self.max_bytes = max_bytes  # WeCom counts UTF-8 bytes (textlimits.py): the error names them
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_message = pattern_message or "has the wrong format"
        self.multiline, self.check = multiline, check

    def clean(self, value, path):
        if not isinstance(value, str):
            raise Invalid.at(path, "must be a string")
        text = value.strip() if self.strip else value
        if "\x00" in text or (not self.multiline and ("\n" in text or "\t" in text)) or _CONTROL.search(text):
            raise Invalid.at(path, "must not contain control characters")
        if len(text) < self.min_length:
            raise Invalid.at(path, "must not be empty" if self.min_length == 1 else
                             f"must be at least {self.min_length} characters")
        if self.max_bytes is not None and (problem := textlimits.problem(text, self.max_bytes)):
            raise Invalid.at(path, problem)
        if len(text) > self.max_length:
            raise Invalid.at(path, f"must be at most {self.max_length} characters")
        if self.lower:
            text = text.lower()
        if self.pattern and not self.pattern.fullmatch(text):
            raise Invalid.at(path, self.pattern_message)
        if self.check and (problem := self.check(text)):
            raise Invalid.at(path, problem)
        return text


class Integer(Kind):
    def __init__(self, *, minimum: int | None = None, maximum: int | None = INT32_MAX):
        self.minimum, self.maximum = minimum, maximum

    def clean(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid.at(path, "must be an integer")
        if self.minimum is not None and value < self.minimum:
            raise Invalid.at(path, f"must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise Invalid.at(path, f"must be at most {self.maximum}")
        return value


class Boolean(Kind):
    def clean(self, value, path):
        if not isinstance(value, bool):
            raise Invalid.at(path, "must be true or false")
        return value


class OneOf(Kind):
    def __init__(self, *choices: str):
        self.choices = choices

    def clean(self, value, path):
        if not isinstance(value, str) or value not in self.choices:
            raise Invalid.at(path, "must be one of " + ", ".join(f'"{c}"' for c in self.choices))
        return value


class DateTime(Kind):
    """ISO-8601 with a time zone (`2027-01-04T18:00:00+08:00` or `...Z`) → an aware datetime."""

    def clean(self, value, path):
        message = "must be an ISO-8601 date-time with a time zone, e.g. 2027-01-04T18:00:00+08:00"
        if not isinstance(value, str) or "T" not in value.upper():
            raise Invalid.at(path, message)
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Invalid.at(path, message) from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise Invalid.at(path, message)
        return moment


class Date(Kind):
    def clean(self, value, path):
        try:
            if isinstance(value, str) and len(value) == 10:
                return date.fromisoformat(value)
        except ValueError:
            pass
        raise Invalid.at(path, "must be a date as YYYY-MM-DD")


class ListOf(Kind):
    def __init__(self, item: Kind, *, max_items: int = 1000, min_items: int = 0, unique: bool = True):
        self.item, self.max_items, self.min_items, self.unique = item, max_items, min_items, unique

    def clean(self, value, path):
        if not isinstance(value, list):
            raise Invalid.at(path, "must be a list")
        if len(value) > self.max_items:
            raise Invalid.at(path, f"must have at most {self.max_items} items")
        if len(value) < self.min_items:
            raise Invalid.at(path, f"must have at least {self.min_items} item" + ("s" if self.min_items > 1 else ""))
        cleaned, errors = [], []
        for index, item in enumerate(value):
            try:
                cleaned.append(self.item.clean(item, f"{path}[{index}]"))
            except Invalid as exc:
                errors.extend(exc.errors)
        if errors:
            raise Invalid(errors)
        if self.unique:  # keep the first of each; [3, 3] means [3]
            cleaned = list(dict.fromkeys(cleaned))
        return cleaned


class Object(Kind):
    def __init__(self, **fields: Kind | Field):
        self.fields = {name: f if isinstance(f, Field) else Field(f) for name, f in fields.items()}

    def clean(self, value, path):
        if not isinstance(value, dict):
            raise Invalid.at(path, "must be an object")
        unknown = f"unknown field (known: {', '.join(self.fields)})"
        errors = [(_join(path, name), unknown) for name in value if name not in self.fields]
        cleaned = {}
        for name, spec in self.fields.items():
            where = _join(path, name)
            raw = value.get(name, MISSING)
            if raw is MISSING or raw is None:
                if spec.required:
                    errors.append((where, "is required"))
                else:
                    cleaned[name] = spec.missing_value()
                continue
            try:
                cleaned[name] = spec.kind.clean(raw, where)
            except Invalid as exc:
                errors.extend(exc.errors)
        if errors:
            raise Invalid(errors)
        return cleaned


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate(schema: Kind, body: Any) -> Any:
    """Clean a parsed JSON body against `schema`; raises Invalid with every problem."""
    return schema.clean(body, "")


# a WeCom userid, as every resource takes one (groups, directives, violations, sensitive words)
USERID = String(64, lower=True, pattern=r"[a-z0-9_.@-]+",
                pattern_message="must be a WeCom userid (letters, digits, _ . @ -)")
