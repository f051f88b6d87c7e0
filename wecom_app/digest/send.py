"""Sending the digest (R6): once per period, as a text_notice template card (90236)
to the office admins (`WECOM_ADMINS`, the `WECOM_ADMIN_TAG` members) and the leaders
in `DIGEST_LEADERS`, opening the digest's workbench page (which has its PDF).

`send_due` is what the `digest` job runs: for each kind (weekly, monthly) whose
latest period is due (period.py) it computes the figures and enqueues one
message/send per 1,000 recipients. Once per period, however many schedulers run
and however often: the outbox key `digest:<kind>:<period>:<chunk>` is unique, so a
second run (or a second process racing the first) finds the row and sends nothing;
the card's task_id is this installation's prefix with the same key, unique for the
app's life (42014, wecom/task_ids.py). A digest is sent late only within period.LATE
(the app down that Monday morning), never for an older period. The card waits for
working time like every message to people (R4).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import select

from wecom_app.counts import Counts
from wecom_app.digest import period as periods
from wecom_app.digest.figures import Digest, compute
from wecom_app.models import OutboxAction, TagMember, User, UserDepartment
from wecom_app.models.directory import STATUS_ACTIVE
from wecom_app.wecom import outbox, task_ids
from wecom_app.wecom.textlimits import clip

BATCH_SIZE = 1000  # message/send touser: at most 1,000 userids (90236)


@dataclasses.dataclass
class DigestStats(Counts):
    sent: int = 0  # digests queued this run
    recipients: int = 0


def page_path(period: periods.Period) -> str:
    return f"/digest/{period.kind}/{period.key}"


def recipients(session, settings) -> list[str]:
    """The office admins and the configured leaders, without those the directory
    mirror knows as not active (left, disabled, not activated)."""
    wanted = list(settings.admins) + _admin_tag_members(session, settings) + list(settings.digest_leaders)
    wanted = list(dict.fromkeys(u.lower() for u in wanted if u))
    inactive = set(session.scalars(select(User.userid).where(User.userid.in_(wanted), User.status != STATUS_ACTIVE)))
    return [u for u in wanted if u not in inactive]


def _admin_tag_members(session, settings) -> list[str]:
    if settings.admin_tag is None:
        return []
    rows = session.execute(select(TagMember.userid, TagMember.department_id)
                           .where(TagMember.tag_id == settings.admin_tag)).all()
    found = sorted({u for u, _ in rows if u})
    departments = {d for _, d in rows if d is not None}
    if departments:
        found += sorted(set(session.scalars(select(UserDepartment.userid)
                                            .where(UserDepartment.department_id.in_(departments)))))
    return found


def send_due(session, settings, now: datetime) -> DigestStats:
    stats = DigestStats()
    for kind in periods.KINDS:
        period = periods.due(kind, settings, now)
        if period is None or _already_queued(session, period):
            continue
        to = recipients(session, settings)
        if not to:
            continue
        digest = compute(session, settings, period, now)
        prefix = task_ids.prefix(session)
        for start in range(0, len(to), BATCH_SIZE):
            key = f"digest:{kind}:{period.key}:{start}"
            outbox.enqueue(session, "message/send", {
                "touser": "|".join(to[start:start + BATCH_SIZE]), "msgtype": "template_card",
                "template_card": card(settings, digest, task_id=f"{prefix}_{key.replace(':', '-')}")},
                key=key, now=now)
        stats.sent += 1
        stats.recipients += len(to)
    return stats


def _already_queued(session, period: periods.Period) -> bool:
    key = f"digest:{period.kind}:{period.key}:0"
    return session.scalar(select(OutboxAction.id).where(OutboxAction.idempotency_key == key)) is not None


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{round(100 * rate)}%"


def card(settings, digest: Digest, *, task_id: str) -> dict:
    """A text_notice card (90236: card_action required, at most 6 horizontal items), every
    text within WeCom's recommended lengths (textlimits.CARD_CHARS)."""
    p = digest.period
    url = f"{settings.public_url}{page_path(p)}"
    worst = "，".join(f"{row.department} {row.people}" for row in digest.overdue[:3])
    summary = (f"新增违规 {digest.opened} 起，处理 {digest.decided} 起，待处理 {digest.violations_open_now} 起；"
               f"本期指令 {len(digest.directives)} 条；逾期 {digest.overdue_people} 人"
               + (f"（{worst}）" if worst else "") + "。点击查看详情和 PDF。")
    return {
        "card_type": "text_notice",
        "task_id": task_id,
        "source": {"desc": f"群管理{periods.KIND_WORDS[p.kind]}", "desc_color": 0},
        "main_title": {"title": clip(p.title, 36), "desc": clip(f"生成于 {digest.generated_at.astimezone(settings.tz):%Y-%m-%d %H:%M}", 44)},
        "emphasis_content": {"title": percent(digest.ack_rate), "desc": "本期指令签收率"},
        "sub_title_text": clip(summary, 160),
        "horizontal_content_list": [
            {"keyname": "合规群", "value": f"{digest.groups_compliant} / {digest.groups_total}"},
            {"keyname": "新增违规", "value": str(digest.opened)},
            {"keyname": "已处理", "value": str(digest.decided)},
            {"keyname": "办结率", "value": percent(digest.completion_rate)},
            {"keyname": "逾期人数", "value": str(digest.overdue_people)},
        ],
        "jump_list": [{"type": 1, "title": "查看汇报", "url": url}],
        "card_action": {"type": 1, "url": url},
    }
