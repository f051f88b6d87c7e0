"""A small router from callback events to handlers (after gidgethub's).

    @router.register("change_contact", ChangeType="delete_user")
    def remove_departed_member(event, ctx): ...

The first argument is the Event (or the MsgType for plain messages, e.g.
"text"); keyword filters are spelled exactly as WeCom's XML elements, so grepping
a WeCom field finds its handler. Every matching handler runs, in registration order.
`Router(a, b)` merges routers: a's handlers of an event run before b's.

    @router.prepare("change_external_chat")
    def read_groups_once(events, ctx): ...

A preparer runs once a dispatcher batch, before its handlers, with the batch's events of
that name: it reads in one query what each handler would read once an event (the batch's
groups, people, receipts) and keeps it in `db.memo`; it decides nothing and writes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from wecom_app.callbacks.events import CallbackEvent
from wecom_app.config import Settings

Handler = Callable[[CallbackEvent, "HandlerContext"], None]
Preparer = Callable[[list[CallbackEvent], "HandlerContext"], None]


@dataclasses.dataclass(frozen=True)
class HandlerContext:
    """What a handler may use: the open transaction, settings, the time, a logger.
    Handlers never call WeCom: work that needs WeCom is enqueued on the outbox."""

    session: Any
    settings: Settings
    now: datetime
    log: logging.Logger


class Router:
    def __init__(self, *routers: Router) -> None:
        """An empty router, or the merge of `routers` (their registrations so far), in that order."""
        self._routes: dict[str, list[tuple[dict[str, str], Handler]]] = {}
        self._preparers: dict[str, list[Preparer]] = {}
        for router in routers:
            for name, entries in router._routes.items():
                self._routes.setdefault(name, []).extend(entries)
            for name, preparers in router._preparers.items():
                self._preparers.setdefault(name, []).extend(preparers)

    def register(self, name: str, **detail: str) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self._routes.setdefault(name, []).append((detail, handler))
            return handler

        return decorator

    def prepare(self, name: str) -> Callable[[Preparer], Preparer]:
        def decorator(preparer: Preparer) -> Preparer:
            self._preparers.setdefault(name, []).append(preparer)
            return preparer

        return decorator

    def prepare_batch(self, events: list[CallbackEvent], ctx: HandlerContext) -> None:
        """Each preparer once, with the batch's events of its name (the module's docstring)."""
        for name, preparers in self._preparers.items():
            named = [event for event in events if event.name == name]
            if named:
                for preparer in preparers:
                    preparer(named, ctx)

    def match(self, event: CallbackEvent) -> list[Handler]:
        return [
            handler
            for detail, handler in self._routes.get(event.name, ())
            if all(event.get(field) == value for field, value in detail.items())
        ]

    @staticmethod
    def hint(event: CallbackEvent) -> str:
        """The registration that would handle an unhandled event, for the log line."""
        detail = "".join(
            f", {field}={event.get(field)!r}" for field in ("ChangeType", "UpdateDetail") if event.get(field)
        )
        return f"@router.register({event.name!r}{detail})"
