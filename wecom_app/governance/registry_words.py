"""The registry's refusals (RegistryError, English: the REST API's words) as the
workbench says them in Chinese: next to a form's field (workbench/groups.py) and in
the import report of a spreadsheet of registrations (group_import.py)."""

from __future__ import annotations

import re

from wecom_app.governance.registry import RegistryError
from wecom_app.labels import GROUP_KINDS

MESSAGES = [  # the registry's English → what the person at the form (or the import report) reads
    (r"a userid is required", lambda m: "请填写企业微信账号（userid）"),
    (r"(.+?) is not an active member of the company", lambda m: f"{m[1]} 不是本企业已激活的在职成员（R1）"),
    (r"a group needs a name", lambda m: "请填写群名称"),
    (r"at most (\d+) characters", lambda m: f"群名称最多 {m[1]} 个字（企业微信会截断更长的名称）"),
    (r"2-50 characters", lambda m: "群名称须为 2–50 个字：中文、字母、数字、空格及 - _ · . & + / 、 括号，不能有表情符号"),
    (r"does not follow the company's group naming convention \((.*)\)", lambda m: f"不符合公司的群命名规范（{m[1]}）"),
    (r"a managed group \(appchat\) can have internal members only",
     lambda m: "应用管理群只能有企业内部成员：企业微信不允许外部联系人加入应用创建的群"),
    (r"a managed group has at least 2 members; this one would have (\d+)",
     lambda m: f"应用管理群至少要有 2 名成员，按此范围将有 {m[1]} 人"),
    (r"this group would have (\d+) members .*? group size of (\d+)",
     lambda m: f"按此范围（含群主和专管人员）将有 {m[1]} 人，超过企业的群人数上限 {m[2]} 人"
               "（管理后台「群成员人数上限」，WECOM_GROUP_SIZE_LIMIT）：企业微信会拒绝建群。请缩小范围或拆分成几个群。"),
    (r"unknown department (.*)", lambda m: f"通讯录中没有部门 {m[1]}"),
    (r"unknown tag (.*)", lambda m: f"通讯录中没有标签 {m[1]}"),
    (r"not in the directory: (.*)", lambda m: f"通讯录中没有：{'、'.join(m[1].split(', '))}"),
    (r"a customer group is registered by its chat_id", lambda m: "客户群须填写群 ID（chat_id，见客户群列表）"),
    (r"already registered as group (\d+)", lambda m: f"该群已登记（群 {m[1]}）"),
    (r"a group named (.+) already exists \(group (\d+)\)",
     lambda m: f"已有同名的群「{m[1]}」（群 {m[2]}）：请换一个名称，或编辑原来的群（已归档的群不占用名称）"),
    (r"only a managed group has a join policy", lambda m: "只有应用管理群有入群方式：其他群不经应用入群"),
    (r"(\S+) is a (\w+) group", lambda m: f"{m[1]} 是{GROUP_KINDS.get(m[2], m[2])}"),
    (r"a group robot's webhook URL", lambda m: "请填写群机器人的 Webhook 地址（…/cgi-bin/webhook/send?key=…）"),
]


def registry_message(exc: RegistryError) -> str:
    for pattern, word in MESSAGES:
        match = re.search(pattern, exc.message)
        if match:
            return word(match)
    return exc.message
