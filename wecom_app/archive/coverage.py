"""Whose messages the archive sees in a group: msgaudit/get_permit_user_list (91614) names
the members in the archive's scope (rooms.read_permit_users stores them), and every internal
group shows "messages of N of its M members are seen". Imports only the tables, so the
registry's group view can use it without a cycle."""

from __future__ import annotations

from sqlalchemy import func, select

from wecom_app.models import ArchiveCursor, ArchivePermitUser, Group, GroupMember


def coverage(session, group: Group) -> dict | None:
    """"messages of N of its M members are seen": its present employees in the archive's
    scope, of all its present members; None until the permit list has been read."""
    read = session.scalar(select(ArchiveCursor.permit_read_at).where(ArchiveCursor.permit_read_at.is_not(None)).limit(1))
    if read is None:
        return None
    present = (GroupMember.group_id == group.id) & (GroupMember.state == "present")
    members = session.scalar(select(func.count()).select_from(GroupMember).where(present)) or 0
    seen = session.scalar(select(func.count()).select_from(GroupMember).join(
        ArchivePermitUser, ArchivePermitUser.userid == GroupMember.member_id).where(present)) or 0
    return {"seen_members": seen, "members": members,
            "text": f"本群 {members} 名成员中 {seen} 人的消息在会话存档范围内（messages of {seen} of its {members} "
                    "members are seen）"}
