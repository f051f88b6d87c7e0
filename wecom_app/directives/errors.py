"""The error every directive function raises for an input it refuses (issue, follow-up plans)."""

from __future__ import annotations


class DirectiveError(ValueError):
    """An invalid field: the API answers 422 with `field` and `message` (404 when `missing`)."""

    def __init__(self, field: str, message: str, *, missing: bool = False):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.missing = field, message, missing
