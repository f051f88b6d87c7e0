"""The Chinese words the app shows for its codes: one wording for each (issue 11 item 4).

The workbench pages, the receipt sheet, the cards and the templates (through the
`LABELS` template global, workbench/nav.py) read their words here; none keeps a
dict of its own. A leaf: it imports nothing of the app.
"""
from __future__ import annotations

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
}
_WORDS = {**RECEIPT_STATUSES, **DIRECTIVE_STATUSES, **GROUP_STATUSES,
          **{("dismissed_violation" if k == "dismissed" else k): v for k, v in VIOLATION_STATUSES.items()},
          **DELIVERY_STATUSES, **COMPLIANCE}
BADGES = {status: (_WORDS[status], colour) for status, colour in _COLOURS.items()}
