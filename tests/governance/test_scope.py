"""Scope resolution (wecom_app/governance/scope.py): nested departments, tags, explicit users, exclusions."""

import pytest
from sqlalchemy import event, text

from wecom_app.db import make_engine
from wecom_app.directory.mirror import apply_user, delete_user
from wecom_app.governance.scope import INDEX_AFTER, active_in_scope, expand_scope, in_scope, subtree
from wecom_app.models import Department, Tag, TagMember, User, UserDepartment

# 1 公司 ─ 2 销售部 ─ 3 华东 ─ 4 上海组
#        └ 5 研发部      └ 6 华南 (deleted)
TREE = [(1, 0), (2, 1), (3, 2), (4, 3), (5, 1), (6, 2)]
PEOPLE = {  # userid: (status, departments)
    "boss": (1, [1]), "sales": (1, [2]), "east": (1, [3]), "shanghai": (1, [4]), "newbie": (4, [4]),
    "disabled": (2, [3]), "gone": (5, [4]), "dev": (1, [5]), "devlead": (1, [5, 2]),
}


@pytest.fixture
def directory(sessions):
    with sessions.begin() as session:
        for id, parentid in TREE:
            session.add(Department(id=id, parentid=parentid, name=f"d{id}", deleted=id == 6))
        for userid, (status, departments) in PEOPLE.items():
            session.add(User(userid=userid, name=userid, status=status))
            session.add_all(UserDepartment(userid=userid, department_id=d) for d in departments)
        session.add_all([Tag(id=7, name="骨干", stale=False), TagMember(tag_id=7, userid="dev"),
                         TagMember(tag_id=7, userid="boss"), Tag(id=8, name="研发", stale=False),
                         TagMember(tag_id=8, department_id=5)])
    return sessions


def test_r9_department_includes_every_sub_department(directory):
    with directory() as session:
        assert subtree(session, 2) == {2, 3, 4}  # 6 is deleted
        assert expand_scope(session, {"departments": [3]}) == {"east", "shanghai", "newbie", "disabled"}
        assert active_in_scope(session, {"departments": [2]}) == {"sales", "east", "shanghai", "devlead"}


def test_r9_tags_bring_their_users_and_their_departments_subtrees(directory):
    with directory() as session:
        assert expand_scope(session, {"tags": [7]}) == {"dev", "boss"}
        assert expand_scope(session, {"tags": [8]}) == {"dev", "devlead"}


def test_r11_exclude_wins_and_explicit_users_must_exist_and_not_have_left(directory):
    scope = {"departments": [3], "tags": [7], "users": ["Dev", "stranger", "gone"], "exclude": ["EAST", "boss"]}
    with directory() as session:
        assert expand_scope(session, scope) == {"shanghai", "newbie", "disabled", "dev"}
        assert active_in_scope(session, scope) == {"shanghai", "dev"}


@pytest.mark.parametrize("warm", [False, True], ids=["single_checks", "from_the_index"])
def test_r11_in_scope_agrees_with_expand_scope(directory, warm):
    scope = {"departments": [3], "tags": [8], "users": ["boss"], "exclude": ["newbie"]}
    with directory() as session:
        if warm:
            for _ in range(INDEX_AFTER + 1):
                in_scope(session, {}, "nobody")
        expected = expand_scope(session, scope) if warm else {"east", "shanghai", "disabled", "dev", "devlead", "boss"}
        assert {u for u in [*PEOPLE, "stranger"] if in_scope(session, scope, u.upper())} == expected


def test_empty_scope_is_nobody(directory):
    with directory() as session:
        assert expand_scope(session, {}) == set() and not in_scope(session, {}, "boss")


def test_r1_directory_changes_in_the_same_transaction_are_seen(directory):
    with directory.begin() as session:
        assert "sales" in active_in_scope(session, {"departments": [2]})
        delete_user(session, "sales", 10)
        apply_user(session, {"userid": "hire", "name": "新人", "status": 1, "department": [4]}, 10, stale=False)
        assert active_in_scope(session, {"departments": [2]}) == {"east", "shanghai", "devlead", "hire"}
        session.add(Department(id=9, parentid=4, name="d9"))
        assert 9 in subtree(session, 2)


def test_scope_of_a_thousand_groups_costs_a_few_queries(directory, engine):
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(1))
    with directory() as session:
        for n in range(1000):
            expand_scope(session, {"departments": [2 + n % 4], "exclude": [f"x{n}"]})
    assert len(statements) < 10


# ---- the index kept across transactions (per process), checked against the directory's version


def _counting(engine) -> list[str]:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.append(sql))
    return statements


@pytest.mark.both_databases  # the version stamp is a trigger per dialect
def test_the_index_is_kept_across_transactions_while_the_directory_is_unchanged(directory, engine):
    with directory() as session:
        assert expand_scope(session, {"departments": [2]})
    statements = _counting(engine)
    with directory() as session:
        assert active_in_scope(session, {"departments": [2]}) == {"sales", "east", "shanghai", "devlead"}
        assert in_scope(session, {"departments": [3]}, "east") and subtree(session, 2) == {2, 3, 4}
    assert len([s for s in statements if "SELECT" in s.upper()]) == 1  # the version, nothing else


@pytest.mark.both_databases
@pytest.mark.parametrize("change", ["hire", "departure", "move", "tag", "new_department"])
def test_r1_r11_a_directory_change_by_another_process_is_seen_by_the_next_transaction(directory, db_url, change):
    scope = {"departments": [3], "tags": [7]}
    with directory() as session:  # the index built and kept
        assert expand_scope(session, scope) == {"east", "shanghai", "newbie", "disabled", "dev", "boss"}
        assert in_scope(session, scope, "east")
    other = make_engine(db_url)  # another process's connection, raw SQL: no ORM hook of ours sees it
    with other.begin() as conn:
        if change == "hire":
            conn.execute(text("INSERT INTO wecom_user (userid, name, status, position, alias, direct_leader, extra, "
                              "stale, event_time, updated_at) VALUES ('hire', 'hire', 1, '', '', '[]', '{}', false, "
                              "0, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO user_department (userid, department_id, is_leader) "
                              "VALUES ('hire', 4, false)"))
        elif change == "departure":
            conn.execute(text("UPDATE wecom_user SET status = 5 WHERE userid = 'east'"))
        elif change == "move":
            conn.execute(text("UPDATE user_department SET department_id = 5 WHERE userid = 'east'"))
        elif change == "tag":
            conn.execute(text("DELETE FROM tag_member WHERE tag_id = 7 AND userid = 'boss'"))
        else:
            conn.execute(text("UPDATE department SET parentid = 3 WHERE id = 5"))
    other.dispose()
    expected = {"hire": {"hire"}, "departure": {"-east"}, "move": {"-east"}, "tag": {"-boss"},
                "new_department": {"devlead"}}[change]
    with directory() as session:
        found = expand_scope(session, scope)
    before = {"east", "shanghai", "newbie", "disabled", "dev", "boss"}
    added = {u for u in expected if not u.startswith("-")}
    removed = {u[1:] for u in expected if u.startswith("-")}
    assert found == (before | added) - removed
    with directory() as session:
        assert in_scope(session, scope, "east") == ("east" not in removed)


@pytest.mark.both_databases
def test_r1_a_transaction_that_rolls_back_a_directory_change_leaves_no_index_behind(directory):
    with directory() as session:
        assert expand_scope(session, {"departments": [4]}) == {"shanghai", "newbie"}
    with directory() as session:
        apply_user(session, {"userid": "ghost", "name": "幽灵", "status": 1, "department": [4]}, 10, stale=False)
        assert expand_scope(session, {"departments": [4]}) == {"shanghai", "newbie", "ghost"}
        session.rollback()
    with directory() as session:
        assert expand_scope(session, {"departments": [4]}) == {"shanghai", "newbie"}


def test_r11_an_edited_scope_is_expanded_afresh_with_the_kept_index(directory):
    with directory() as session:
        assert expand_scope(session, {"departments": [4]}) == {"shanghai", "newbie"}
    with directory() as session:
        assert expand_scope(session, {"departments": [4], "exclude": ["newbie"]}) == {"shanghai"}
        assert expand_scope(session, {"departments": [5]}) == {"dev", "devlead"}
