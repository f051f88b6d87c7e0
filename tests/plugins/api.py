"""Helpers for the REST API tests: `issue_token`, `bearer`, `add_group`, `seed_directory` (a small
directory on the runtime's database) and `error` (the DESIGN §3 error shape, checked)."""

from __future__ import annotations

from wecom_app.api_tokens import hash_token
from wecom_app.models import ApiToken, Department, Group, GroupMember, Tag, User, UserDepartment
from wecom_app.models.directory import STATUS_ACTIVE, STATUS_LEFT


def issue_token(runtime, role: str, userid: str | None = None, name: str | None = None) -> str:
    token = f"wca_test_{name or role}_{userid or ''}"
    with runtime.sessions.begin() as session:
        session.add(ApiToken(name=name or f"{role}-{userid or 'x'}", role=role, userid=userid,
                             token_hash=hash_token(token)))
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_group(runtime, **values) -> int:
    values.setdefault("kind", "managed")
    values.setdefault("name", "研发部-周会")
    values.setdefault("custodian", "lisi")
    values.setdefault("owner", "zhangsan")
    values.setdefault("scope", {"departments": [2], "tags": [], "users": [], "exclude": []})
    members = values.pop("members", ())
    with runtime.sessions.begin() as session:
        group = Group(**values)
        session.add(group)
        session.flush()
        for member_id, compliance in members:
            session.add(GroupMember(group_id=group.id, member_id=member_id, compliance=compliance))
        return group.id


def seed_directory(runtime) -> None:
    """华东公司 (1) ⊃ 研发部 (2) ⊃ 平台组 (3); a tag 7; 张三 and 李四 active, 王五 left."""
    with runtime.sessions.begin() as session:
        session.add_all([
            Department(id=1, name="华东公司", parentid=0), Department(id=2, name="研发部", parentid=1),
            Department(id=3, name="平台组", parentid=2), Tag(id=7, name="项目经理", stale=False),
        ])
        for userid, name, status, dept in (("zhangsan", "张三", STATUS_ACTIVE, 1), ("lisi", "李四", STATUS_ACTIVE, 2),
                                           ("zhaoliu", "赵六", STATUS_ACTIVE, 3), ("wangwu", "王五", STATUS_LEFT, 3)):
            session.add(User(userid=userid, name=name, status=status, main_department=dept))
            session.add(UserDepartment(userid=userid, department_id=dept))


def error(response) -> dict:
    """The error object, after checking the DESIGN §3 shape."""
    assert response.mimetype == "application/json", response.data[:200]
    body = response.get_json()
    assert set(body) == {"error"}
    assert {"code", "message", "field"} <= set(body["error"])
    assert "Traceback" not in response.get_data(as_text=True)
    return body["error"]
