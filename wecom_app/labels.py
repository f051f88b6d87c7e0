"""The Chinese words the app shows for its codes: one wording for each (issue 11 item 4).

The workbench pages, the receipt sheet, the cards and the templates (through the
`LABELS` template global, workbench/nav.py) read their words here; none keeps a
dict of its own. A leaf: it imports nothing of the app but the regulation's rule titles (regulation.py, itself a leaf).
"""
from __future__ import annotations

from wecom_app.regulation import RULES

# Group.kind (models/groups.py KINDS)
GROUP_KINDS = {"managed": "应用管理群", "customer": "客户群", "internal": "内部群（备案）"}
# Group.status (models/groups.py STATUSES)
GROUP_STATUSES = {"creating": "创建中", "discovered": "待备案", "active": "正常", "dismissed": "已解散", "archived": "已归档"}
# GroupMember.state shown to a custodian ("over_limit" is governance/group_size.LEFT_OUT)
MEMBER_STATES = {"present": "在群", "pending_approval": "待审批", "removing": "移出中", "suspended": "已暂停",
                 "over_limit": "未能入群（群已满）"}
# a member's compliance in a group (governance/rules.py reasons)
COMPLIANCE = {"ok": "合规", "not_active": "非在职", "out_of_scope": "超出范围", "external_not_allowed": "外部成员",
              "bad_name": "名称不规范", "unknown": "未检查"}

# a receipt's status as the API and the workbench count it (directives/issue.py receipt_status)
RECEIPT_STATUSES = {"queued": "待送达", "delivered": "已送达", "undeliverable": "无法送达", "acknowledged": "已收到",
                    "completed": "已办结", "overdue": "逾期"}
# a receipt as its own assignee reads it (我的待办, the directive page): what they have to do, never how
# the message travels (queued, delivered, undeliverable are the issuer's words)
MY_STATUSES = {"todo": "待确认收到", "todo_completion": "待办结", "acknowledged": "已收到", "completed": "已办结"}
# Directive.status
DIRECTIVE_STATUSES = {"active": "正常", "revoked": "已撤回"}
# where a receipt was acknowledged or completed (DirectiveReceipt.ack_channel / complete_channel)
CHANNELS = {"card": "消息卡片", "workbench": "工作台", "api": "API"}
# Directive.require
REQUIRES = {"ack": "确认收到", "completion": "须办结"}

# violation rules (RULES.md ids) as a custodian reads them
RULE_NAMES = {"R1": "非在职人员在群", "R2": "未使用实名", "R3": "言行不当（辱骂、歧视、谣言等）", "R5": "发布与工作无关的内容",
              "R11": "无关人员入群", "R12": "泄露涉密信息", "R13": "外部人员在内部群", "R14": "账号被盗或丢失",
              "R16": "未落实群内指令"}
# every rule of RULES.md by its short title (pages, exports, the audit log): `rule_label` prefers the
# violation's wording above where a rule has one, so a page and its export say the same
RULE_TITLES = {rule.id: rule.title for rule in RULES}  # the regulation's own short titles (regulation.py)
# Violation.status
VIOLATION_STATUSES = {"open": "待处理", "confirmed": "已确认", "dismissed": "已驳回"}
# the sanctions ladder's steps (violations/sanctions.py) and the R14 suspension
SANCTIONS = {"warning": "警告", "temporary_removal": "暂时移出群", "removal": "移出群", "suspension": "暂停成员资格"}

# announcement deliveries (announcements.DELIVERY_STATUSES)
DELIVERY_STATUSES = {"pending": "待发送", "sending": "发送中", "sent": "已发送", "failed": "失败", "cancelled": "已取消",
                     "unreachable": "无法送达"}

# workbench roles (workbench/auth.py ROLES)
ROLE_NAMES = {"admin": "办公室管理员", "custodian": "群专管人员", "issuer": "指令发布人（部门负责人）", "employee": "员工"}

# The workbench's status badge (templates/workbench/_macros.html `badge`): the word and its colour.
# "dismissed_violation" keeps a dismissed violation apart from a dismissed group.
_COLOURS = {
    "queued": "grey", "delivered": "blue", "undeliverable": "red", "acknowledged": "green", "completed": "green",
    "overdue": "red", "active": "green", "archived": "grey", "revoked": "grey", "creating": "blue", "discovered": "orange",
    "dismissed": "grey", "open": "orange", "confirmed": "red", "dismissed_violation": "grey", "pending": "blue",
    "sending": "blue", "sent": "green", "failed": "red", "cancelled": "grey", "unreachable": "red", "ok": "green",
    "not_active": "red", "out_of_scope": "red", "external_not_allowed": "red", "bad_name": "orange", "unknown": "grey",
    "todo": "orange", "todo_completion": "orange",
}
_WORDS = {**RECEIPT_STATUSES, **DIRECTIVE_STATUSES, **GROUP_STATUSES,
          **{("dismissed_violation" if k == "dismissed" else k): v for k, v in VIOLATION_STATUSES.items()},
          **DELIVERY_STATUSES, **COMPLIANCE, **{k: MY_STATUSES[k] for k in ("todo", "todo_completion")}}
BADGES = {status: (_WORDS[status], colour) for status, colour in _COLOURS.items()}

# where an assessment record comes from (models Assessment.source)
ASSESSMENT_SOURCES = {"violation": "违规确认", "directive": "指令逾期未落实"}

# Every action the audit log can hold (audit.audit's callers; tests/ops/test_labels.py fails on a code
# without its words). "workbench.…" is the same act done on a workbench page, recorded beside the domain's.
ACTIONS = {
    # the workbench
    "workbench.login": "登录工作台", "workbench.logout": "退出工作台",
    "workbench.sessions.revoke": "强制下线（注销全部登录）",
    "workbench.group.create": "建群（工作台）", "workbench.group.register": "备案群（工作台）",
    "workbench.group.recheck": "重新检查群成员（工作台）", "workbench.group.import": "批量登记群（工作台）",
    "workbench.group.edit": "修改群（工作台）", "workbench.group.archived": "归档群（工作台）",
    "workbench.group.dismissed": "登记群已解散（工作台）",
    "workbench.join.approve": "同意入群申请（工作台）", "workbench.join.reject": "拒绝入群申请（工作台）",
    "workbench.announcement.create": "发布公告（工作台）",
    "workbench.directive.issue": "下达指令（工作台）", "workbench.directive.revoke": "撤回指令（工作台）",
    "workbench.directive.correct": "更正指令（工作台）",
    "workbench.violation.confirm": "确认违规（工作台）", "workbench.violation.dismiss": "驳回违规（工作台）",
    # groups
    "group.create": "建群", "group.register": "备案群", "group.import": "批量登记群", "group.edit": "修改群", "group.archive": "归档群",
    "group.dismiss": "登记群已解散", "group.active": "群已建成", "group.discovered": "发现未备案的群",
    "group.dismissed": "群已解散", "group.restore": "群已恢复", "group.renamed_in_client": "群名在客户端被修改",
    "group.owner_changed": "群主变更", "group.problem": "群出现问题", "group.problem_resolved": "群问题已解决",
    "group.size_accepted": "群人数上限已确认",
    # members
    "member.add": "拉人入群", "member.readd": "重新拉回群", "member.added_in_client": "在客户端被拉入群",
    "member.remove": "移出群", "member.remove_blocked": "未能移出群", "member.left": "退群",
    "member.left_out": "未能入群（群已满）", "member.task": "交给专管人员处理", "member.invitor_told": "已告知邀请人",
    "member.join_requested": "申请入群", "member.join_rejected": "入群申请被拒绝", "member.name_fixed": "名称已改正",
    "member.bad_name": "名称不规范", "member.suspend": "暂停成员资格",
    # directives
    "directive.issue": "下达指令", "directive.issue.on_behalf": "代为下达指令（API）", "directive.correct": "更正指令",
    "directive.revoke": "撤回指令", "directive.remind": "提醒未落实的人", "directive.acknowledge": "确认收到指令",
    "directive.complete": "办结指令", "directive.export": "导出签收单",
    # violations and sanctions
    "report.file": "举报", "violation.open": "记录违规", "violation.detected": "发现违规",
    "violation.seen_again": "再次发现同一违规", "violation.confirmed": "确认违规", "violation.dismissed": "驳回违规",
    "sanction.warning": "处理：警告", "sanction.temporary_removal": "处理：暂时移出群", "sanction.removal": "处理：移出群",
    "sanction.ended": "处理期满", "account.report_compromised": "报告账号被盗或丢失",
    "account.suspended": "账号暂停（被盗或丢失）", "account.restored": "账号恢复",
    # announcements, calendar, assessments, the directory
    "announcement.create": "发布公告", "calendar.override.set": "设置调休", "calendar.override.delete": "删除调休",
    "assessment.export": "导出考核表", "user.renamed": "成员帐号变更",
    "sensitive_words.create": "新建敏感词规则", "sensitive_words.update": "修改敏感词规则",
    "sensitive_words.delete": "删除敏感词规则",
    "archive_words.create": "新建会话存档词表", "archive_words.update": "修改会话存档词表",
    "archive_words.delete": "删除会话存档词表", "archive.view": "查看会话存档内容",
    "archive.view_refused": "查看会话存档内容被拒绝",
    # the console (wecom-app)
    "api_token.create": "新建 API 令牌", "api_token.revoke": "吊销 API 令牌", "task_prefix.rotate": "更换任务卡片前缀",
    "outbox.retry": "重试待发操作", "outbox.retry_all_failed": "重试全部失败的待发操作",
    "audit.export": "导出审计记录",
}
# the audit log's detail keys as the office reads them (workbench/audit_log.py: page and CSV)
DETAIL_KEYS = {
    "userid": "成员", "name": "名称", "title": "标题", "reason": "原因", "people": "人数", "channel": "来源",
    "kind": "类型", "chat_id": "群聊 ID", "rule": "规则", "sanction": "处理", "group": "群", "group_id": "群",
    "groups": "群", "violation_id": "违规编号", "sanction_id": "处理编号", "version": "版本", "format": "格式",
    "department": "部门", "roles": "角色", "text": "说明", "note": "备注", "workday": "上班", "count": "数量",
    "ends_at": "结束时间", "generation": "登录代次", "noncompliant": "不合规人数", "msgtype": "消息类型",
    "old": "原帐号", "new": "新帐号", "previous": "原群主", "registered": "登记的群名", "found_name": "现群名",
    "problem": "问题", "size": "人数上限", "fields": "修改项", "rule_id": "企业微信规则 ID", "role": "角色",
    "ids": "编号", "assignees": "接收范围", "users": "人员", "departments": "部门", "urgent": "紧急",
    "before": "修改前", "after": "修改后", "url": "地址", "reasons": "原因", "filters": "筛选条件", "rows": "行数", "filename": "文件名",
    "set_by": "设置人", "QuitScene": "退群方式", "compliance": "合规情况", "confidential": "机密", "content": "内容",
    "errcode": "错误码", "errmsg": "错误信息", "found": "实际", "found_owner": "实际群主", "grace_until": "宽限至",
    "invitor": "邀请人", "issuer": "发布人", "join_policy": "入群方式", "left_out": "未能入群", "limit": "上限",
    "members": "成员", "new_owner": "新群主", "outbox": "待发操作", "owner": "群主", "problems": "问题",
    "msgid": "消息编号", "messages": "消息数", "previous_status": "原状态", "custodian": "专管人员",
    "allow_external": "允许外部联系人", "added": "加入", "removed": "移出", "refused_size": "被拒绝的人数", "scope": "范围", "send_at": "发出时间", "since": "起始", "source": "来源",
    "unreachable": "无法送达", "why": "原因", "words": "敏感词", "robot_webhook": "群机器人地址",
}
# who acted, when it was no person
ACTORS = {"system": "系统（自动）", "cli": "服务器命令行", "anonymous": "未登录"}


def person(name: str | None, userid: str | None) -> str:
    """「曹阳（caoyang）」: the name with the userid beside it; the userid alone when the name is unknown."""
    if not userid:
        return name or ""
    return f"{name}（{userid}）" if name and name != userid else userid


def rule_label(rule: str | None) -> str:
    """「R5 发布与工作无关的内容」: the rule id with its words."""
    if not rule:
        return ""
    words = RULE_NAMES.get(rule) or RULE_TITLES.get(rule)
    return f"{rule} {words}" if words else rule


def action_label(action: str) -> str:
    return ACTIONS.get(action, action)


# When a held message goes (R4), as every page says it: "周一 09:02", "今天 18:05", "10-08（周四）09:02"
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def when_words(moment, now, tz) -> str:
    """`moment` (aware) in the company time zone `tz`, told from `now`: 今天/明天 HH:MM, the
    weekday within the coming week, else the date with its weekday."""
    at, today = moment.astimezone(tz), now.astimezone(tz).date()
    days = (at.date() - today).days
    if days == 0:
        day = "今天"
    elif days == 1:
        day = "明天"
    elif 1 < days < 7:
        day = WEEKDAYS[at.weekday()]
    else:
        day = f"{at:%m-%d}（{WEEKDAYS[at.weekday()]}）"
    return f"{day} {at:%H:%M}"


def held_words(moment, now, tz) -> str:
    """The one sentence every held card, reminder and announcement shows."""
    return f"将于 {when_words(moment, now, tz)} 发出（非工作时间，R4）"
