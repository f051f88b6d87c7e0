"""Demo data for `wecom-app sandbox`, so that a newcomer finds something on every
workbench page as every role: made through the app's own paths (the registry, the
directive code, a member's 举报 pushed as WeCom pushes it), never written around them.

- 行政部工作群: a managed group the office creates (appchat/create through the
  outbox), custodian lina (李娜);
- 华东客户交流群 and 售后服务群: the demo customer groups, registered (备案) with
  custodian xuchao (徐超, 销售运营) — one has an external customer and a member out
  of scope, so it shows violations and custodian tasks;
- two directives: zhangwei (admin) to 行政部, to acknowledge; caoyang (研发部
  leader, an issuer) a confidential one to 研发部, to complete;
- a report: zhuxia reports a member of 华东客户交流群 for advertising;
- the conversation archive (when on, sandbox/seed.py `seed_archive`): the office's archive-only
  word list 涉密项目代号 (R12) and the internal group 研发部-项目沟通 registered (custodian
  caoyang), so the first archive run shows its out-of-scope member, the classified word as a
  violation and the late-night count; 行政部-日常沟通 is left for the newcomer to find among the
  discovered groups and register.
"""

from __future__ import annotations

from datetime import timedelta

from wecom_app.archive import content
from wecom_app.directives import issue as directives
from wecom_app.governance.registry import create_managed_group, register_group
from wecom_app.sandbox.seed import CLASSIFIED, CLASSIFIED_TOO, CUSTOMER_CHATS, RD_ROOM

CUSTODIAN = "xuchao"


def seed_demo_data(runtime, state, pusher) -> list[str]:
    """Make the demo data; returns one line per thing made, for the console."""
    settings, now = runtime.settings, runtime.clock()
    made = []
    with runtime.sessions.begin() as session:
        group = create_managed_group(
            session, settings, name="行政部工作群", owner="wangfang", custodian="lina",
            scope={"departments": [3], "tags": [], "users": [], "exclude": []}, allow_external=False,
            join_policy="auto", actor="sandbox", now=now)
        made.append(f"managed group {group.name} (custodian lina)")
        for chat_id, name, owner, _notice, _members in CUSTOMER_CHATS:
            if name not in ("华东客户交流群", "售后服务群"):
                continue
            register_group(session, settings, kind="customer", chat_id=chat_id, name=name, owner=owner,
                           custodian=CUSTODIAN, scope={"departments": [5], "tags": [], "users": [], "exclude": []},
                           allow_external=True, robot_webhook=None, actor="sandbox", now=now)
            made.append(f"customer group {name} registered (custodian {CUSTODIAN})")
        directives.issue(session, settings, title="本周五前提交季度费用报销单", issuer="zhangwei", now=now,
                         body="请行政部各位在本周五 17:00 前将季度费用报销单提交至财务系统，逾期将顺延至下季度。",
                         assignees={"departments": [3]}, deadline=now + timedelta(days=14))
        directives.issue(session, settings, title="新版本发布前的安全自查", issuer="caoyang", now=now,
                         body="（机密）请研发部各位完成发布前安全自查清单第 1–12 项，并在完成后点击「已办结」。",
                         assignees={"departments": [8]}, deadline=now + timedelta(days=14), require="completion",
                         confidential=True)
        made.append("two directives (zhangwei → 行政部, caoyang → 研发部, confidential, to complete)")
        if settings.archive_enabled:
            content.save_list(session, name="涉密项目代号", rule="R12", words=[CLASSIFIED, CLASSIFIED_TOO], actor="sandbox",
                              now=now)
            roomid, name, creator, _members = RD_ROOM
            register_group(session, settings, kind="internal", chat_id=roomid, name=name, owner=creator,
                           custodian="caoyang", scope={"departments": [8], "tags": [], "users": [], "exclude": []},
                           allow_external=False, robot_webhook=None, actor="sandbox", now=now)
            made.append(f"archive: word list 涉密项目代号 (R12); internal group {name} registered (custodian caoyang); "
                        "行政部-日常沟通 waits among the discovered groups")
    pusher.push(state.member_sends_text("zhuxia", "举报 @tony 华东客户交流群 在群里发广告"))
    made.append("a report by zhuxia (举报 @tony 华东客户交流群)")
    return made
