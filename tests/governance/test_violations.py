"""R15: the join rules' findings in groups the app cannot change become violation records
(detected_by `system`), one open record per (rule, person, group) however often it is seen."""

from __future__ import annotations

from sqlalchemy import select

from wecom_app.governance import registry
from wecom_app.models import Violation

from tests.plugins.world import push

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
STRANGER = "wmOgQhDgAAnewcustomerXXXXXXXXXAAA"


def test_r15_system_detection_is_recorded_once_while_open(world):
    with world.sessions.begin() as session:
        group_id = registry.register_group(
            session, world.settings, kind="customer", chat_id=CHAT, name="华东客户交流群", owner="hujie",
            custodian="wujun", scope={"departments": [6]}, allow_external=False, robot_webhook=None,
            actor="api:office", now=world.now()).id
    push(world, world.state.groupchat_add_member(CHAT, STRANGER, JoinScene=3))
    push(world, world.state.groupchat_remove_member(CHAT, STRANGER))
    world.clock.advance(60)
    push(world, world.state.groupchat_add_member(CHAT, STRANGER, JoinScene=3))
    with world.sessions() as session:
        rows = session.scalars(select(Violation)).all()
        assert [(v.rule, v.userid, v.group_id, v.detected_by, v.status) for v in rows] == [
            ("R13", STRANGER, group_id, "system", "open")]
        assert rows[0].evidence["reason"] == "external_not_allowed"
