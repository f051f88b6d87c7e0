"""Emulated tag and department-id reads: tag/list (90216), tag/get (90213) and
department/simplelist (95350).

tag/get lists only members in the app's visible range (the 通讯录同步 secret sees
all); an unknown tagid answers 40068.
"""

from __future__ import annotations

from flask import Flask, g, request

from wecom_app.sandbox.emulator.api import ApiError, ok, reply
from wecom_app.sandbox.state import SandboxState

TAG_NOT_FOUND = 40068


def register(app: Flask, state: SandboxState) -> None:
    app.add_url_rule("/cgi-bin/tag/list", "tag/list", lambda: _tag_list(state))
    app.add_url_rule("/cgi-bin/tag/get", "tag/get", lambda: _tag_get(state))
    app.add_url_rule("/cgi-bin/department/simplelist", "department/simplelist", lambda: _simplelist(state))


def _tag_list(state: SandboxState):
    with state.lock:
        return ok(taglist=[dict(tagid=t["tagid"], tagname=t["tagname"]) for t in sorted(
            state.tags.values(), key=lambda t: t["tagid"])])


def _tag_get(state: SandboxState):
    try:
        tagid = int(request.args.get("tagid", ""))
    except ValueError:
        return reply(TAG_NOT_FOUND, "invalid tagid")
    with state.lock:
        tag = state.tags.get(tagid)
        if tag is None:
            return reply(TAG_NOT_FOUND, "invalid tagid")
        visible = set(state.users) if g.token_kind == "contact" else state.visible_users()
        users = [dict(userid=u, name=state.users[u]["name"]) for u in tag["userlist"] if u in visible]
        return ok(tagname=tag["tagname"], userlist=users, partylist=list(tag["partylist"]))


def _simplelist(state: SandboxState):
    with state.lock:
        visible = set(state.departments) if g.token_kind == "contact" else state.visible_departments()
        wanted = request.args.get("id")
        if wanted:
            try:
                root = int(wanted)
            except ValueError:
                raise ApiError(60123) from None
            if root not in state.departments:
                raise ApiError(60123)
            ids = [i for i in state.subtree(root) if i in visible]
        else:
            ids = sorted(visible)
        return ok(department_id=[dict(id=i, parentid=state.departments[i]["parentid"],
                                      order=state.departments[i]["order"]) for i in ids])
