"""The navigation's two views of one list (workbench/nav.py, issue 13 #3): at most five
tabs on a phone, 更多 holding the rest, nothing lost and nothing a role may not use."""

from __future__ import annotations

import pytest

from wecom_app.workbench.access import Viewer
from wecom_app.workbench.nav import NAV, TABS, nav_for, tabs_for

ROLES = {
    "admin": {"employee", "admin", "issuer"},
    "custodian": {"employee", "custodian"},
    "admin and custodian": {"employee", "admin", "issuer", "custodian"},
    "issuer": {"employee", "issuer"},
    "employee": {"employee"},
}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_has_at_most_five_tabs_and_the_rest_under_more(role):
    viewer = Viewer(userid="someone", name="某人", roles=frozenset(ROLES[role]))
    tabs, rest = tabs_for(viewer)
    assert len(tabs) <= TABS
    pages = [t for t in tabs if t.key != "more"] + rest
    assert sorted(i.key for i in pages) == sorted(i.key for i in nav_for(viewer))  # every page, once
    assert (tabs[-1].key == "more") == bool(rest)


def test_an_admin_keeps_todo_groups_and_violations_on_the_tab_bar():
    tabs, rest = tabs_for(Viewer(userid="zhangwei", name="张伟", roles=frozenset(ROLES["admin"])))
    assert [t.key for t in tabs] == ["home", "me", "groups", "violations", "more"]
    assert [i.key for i in rest] == ["reports", "directives", "announcements", "assessments", "settings", "audit",
                                    "digest", "help"]


def test_nobody_logged_in_has_no_navigation():
    assert tabs_for(None) == ([], []) and nav_for(None) == []
    assert len({i.key for i in NAV}) == len(NAV)
