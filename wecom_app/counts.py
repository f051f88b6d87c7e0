"""The one base for a job's or a pass's tally (issue 11 item 6).

A subclass is a `@dataclasses.dataclass` whose fields are the things counted
(ints; a list counts as its length, a bool such as `rate_limited` is shown but never
added up). The scheduler logs a job's result as `as_dict()` and skips a run whose
`total` is 0; the sync command prints `summary()`. A subclass whose total is not
the sum of its fields (things looked at, next to things done) overrides `total`.
"""
from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Counts:
    def as_dict(self) -> dict[str, Any]:
        """Each field by name, in declaration order; a list as its length."""
        return {f.name: len(v) if isinstance(v := getattr(self, f.name), list) else v
                for f in dataclasses.fields(self)}

    @property
    def total(self) -> int:
        """Everything counted (bools left out)."""
        return sum(v for v in self.as_dict().values() if isinstance(v, int) and not isinstance(v, bool))

    def summary(self) -> str:
        """`name=value …`, the form of a log line's fields."""
        return " ".join(f"{k}={v}" for k, v in self.as_dict().items())
