"""Scope resolution for the group rules (R9, R11): who belongs in a group.

A scope is `{"departments": [int], "tags": [int], "users": [str], "exclude": [str]}`
(DESIGN §3 POST /api/v1/groups). A department includes all its sub-departments;
a tag contributes its users and its departments' subtrees; `exclude` wins over
everything. Only the mirror is read (directory.py), never WeCom.

The department tree (with tag members) and the department → users index are
built once and kept in `session.info` for the transaction, so judging 1,000 groups
of 500 members costs a handful of queries. The cache is dropped when the session
flushes a directory change, commits or rolls back, so a handler that changes the
directory and a rule that reads it in the same transaction agree.

Across transactions the process keeps the index it built last, labelled with the
directory's version (models.DirectoryVersion, bumped by a trigger on every directory
write in the writer's transaction): a transaction reads the version once, and uses
the kept index only if it is that version, so a hire, a departure or a move committed
by any session or process is seen by the next transaction that reads scope (R1, R11).
An index built by a transaction that itself wrote the directory is never kept (its
writes might still roll back). A group's scope is the key of its expansion, so an
edited scope is expanded afresh.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from wecom_app.directory import version as directory_version
from wecom_app.models import Department, TagMember, User, UserDepartment
from wecom_app.models.directory import STATUS_ACTIVE, STATUS_LEFT

TREE_KEY = "wecom.scope.tree"
MEMBERS_KEY = "wecom.scope.members"
CALLS_KEY = "wecom.scope.in_scope_calls"
KEEP = 4  # indexes kept per process (one per database; more only in tests)
INDEX_AFTER = 20  # single checks in one session before loading the whole index pays off


@dataclasses.dataclass
class _Tree:
    parent: dict[int, int]
    children: dict[int, list[int]]
    tag_users: dict[int, set[str]]
    tag_departments: dict[int, set[int]]
    subtrees: dict[int, frozenset[int]] = dataclasses.field(default_factory=dict)

    def subtree(self, department_id: int) -> frozenset[int]:
        found = self.subtrees.get(department_id)
        if found is None:
            ids, frontier = {department_id}, [department_id]
            while frontier:
                for child in self.children.get(frontier.pop(), ()):
                    if child not in ids:
                        ids.add(child)
                        frontier.append(child)
            found = self.subtrees[department_id] = frozenset(ids)
        return found

    def ancestors(self, department_id: int) -> set[int]:
        """The department and every department above it."""
        found = set()
        while department_id not in found and department_id:
            found.add(department_id)
            department_id = self.parent.get(department_id, 0)
        return found


@dataclasses.dataclass
class _Members:
    status: dict[str, int]
    department_users: dict[int, set[str]]
    expanded: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict)  # scope key → expand_scope


@dataclasses.dataclass
class _Kept:
    version: int
    tree: _Tree
    members: _Members


_kept: dict[str, _Kept] = {}  # per process: database URL → the index last built outside a directory write


def invalidate(session) -> None:
    """Forget this transaction's tree and index (after writes its flush does not see); the
    process's kept index is not used again in this transaction."""
    session.info.pop(TREE_KEY, None)
    session.info.pop(MEMBERS_KEY, None)
    directory_version.mark_written(session)


@event.listens_for(Session, "after_flush")
def _directory_flushed(session, _context) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, directory_version.DIRECTORY_TYPES) for obj in changed):
        invalidate(session)


@event.listens_for(Session, "do_orm_execute")
def _directory_statement(state) -> None:
    """A bulk update or delete of a directory table through the session (directory/rename.py)."""
    if (state.is_update or state.is_delete or state.is_insert) and any(
            getattr(m, "class_", None) in directory_version.DIRECTORY_TYPES for m in state.all_mappers):
        invalidate(state.session)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session, _previous) -> None:
    """A savepoint's rollback may undo directory writes the index holds: build it again
    (the transaction still counts as a writer if it wrote before)."""
    session.info.pop(TREE_KEY, None)
    session.info.pop(MEMBERS_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session, transaction) -> None:
    if transaction.parent is None:  # the outermost: the next one reads the version again
        for key in (TREE_KEY, MEMBERS_KEY, CALLS_KEY):
            session.info.pop(key, None)


def _database(session) -> str:
    return session.get_bind().url.render_as_string(hide_password=True)


def _use_kept(session) -> bool:
    """Put the process's kept index in this transaction if it is the directory's version."""
    if directory_version.wrote_directory(session):
        return False
    # the version first, whatever is kept: an index this transaction builds next is stamped with
    # it, and what is read after it is at least that new (read committed reads each statement anew)
    version = directory_version.current(session)
    kept = _kept.get(_database(session))
    if kept is None or kept.version != version:
        return False
    session.info[TREE_KEY], session.info[MEMBERS_KEY] = kept.tree, kept.members
    return True


def _keep(session, version: int | None) -> None:
    """Keep this transaction's index for the next ones, unless it wrote the directory."""
    if version is None or directory_version.wrote_directory(session):
        return
    _kept.pop(_database(session), None)
    while len(_kept) >= KEEP:
        _kept.pop(next(iter(_kept)))
    _kept[_database(session)] = _Kept(version, session.info[TREE_KEY], session.info[MEMBERS_KEY])


def _tree(session) -> _Tree:
    # pending directory changes first (the flush hook drops a stale cache); only those: a join's
    # own new member row, judged here before it is written, waits for its verdict (one INSERT)
    if any(isinstance(obj, directory_version.DIRECTORY_TYPES) for obj in (*session.new, *session.dirty,
                                                                           *session.deleted)):
        session.flush()
    tree = session.info.get(TREE_KEY)
    if tree is None and _use_kept(session):
        tree = session.info[TREE_KEY]
    if tree is None:
        rows = session.execute(select(Department.id, Department.parentid).where(Department.deleted.is_(False)))
        parent, children = {}, defaultdict(list)
        for department_id, parentid in rows:
            parent[department_id] = parentid
            children[parentid].append(department_id)
        tag_users, tag_departments = defaultdict(set), defaultdict(set)
        for tag_id, userid, department_id in session.execute(
                select(TagMember.tag_id, TagMember.userid, TagMember.department_id)):
            if userid:
                tag_users[tag_id].add(userid)
            if department_id is not None:
                tag_departments[tag_id].add(department_id)
        tree = session.info[TREE_KEY] = _Tree(parent, dict(children), dict(tag_users), dict(tag_departments))
    return tree


def _members(session) -> _Members:
    # the version first: data read after it is at least that new (a later write bumps it again)
    version = None if directory_version.wrote_directory(session) else directory_version.current(session)
    _tree(session)  # flushes; takes the kept index when it is fresh
    members = session.info.get(MEMBERS_KEY)
    if members is None:
        status = dict(session.execute(select(User.userid, User.status)).all())
        department_users: dict[int, set[str]] = defaultdict(set)
        for userid, department_id in session.execute(select(UserDepartment.userid, UserDepartment.department_id)):
            department_users[department_id].add(userid)
        members = session.info[MEMBERS_KEY] = _Members(status, dict(department_users))
        _keep(session, version)
    return members


def _lower(values) -> set[str]:
    return {str(v).strip().lower() for v in values or () if str(v).strip()}


def _roots(tree: _Tree, scope: dict) -> set[int]:
    """The scope's departments and its tags' departments (each stands for its subtree)."""
    roots = {int(d) for d in scope.get("departments") or ()}
    for tag_id in scope.get("tags") or ():
        roots |= tree.tag_departments.get(int(tag_id), set())
    return roots


def _scope_departments(tree: _Tree, scope: dict) -> set[int]:
    found: set[int] = set()
    for department_id in _roots(tree, scope):
        found |= tree.subtree(department_id)
    return found


def subtree(session, department_id: int) -> set[int]:
    """The department and all its sub-departments (deleted ones left out)."""
    return set(_tree(session).subtree(int(department_id)))


def _candidates(session, scope: dict) -> tuple[set[str], _Members]:
    tree, members = _tree(session), _members(session)
    users = _lower(scope.get("users")) & members.status.keys()
    for department_id in _scope_departments(tree, scope):
        users |= members.department_users.get(department_id, set())
    for tag_id in scope.get("tags") or ():
        users |= tree.tag_users.get(int(tag_id), set()) & members.status.keys()
    return users - _lower(scope.get("exclude")), members


def _scope_key(scope: dict) -> str:
    return json.dumps({k: sorted(map(str, scope.get(k) or ())) for k in ("departments", "tags", "users", "exclude")})


def _expanded(session, scope: dict) -> frozenset[str]:
    members = _members(session)
    key = _scope_key(scope)
    found = members.expanded.get(key)
    if found is None:
        users, _ = _candidates(session, scope)
        found = members.expanded[key] = frozenset(u for u in users if members.status[u] != STATUS_LEFT)
    return found


def expand_scope(session, scope: dict) -> set[str]:
    """Userids in scope, of any status except left (5)."""
    return set(_expanded(session, scope or {}))


def active_in_scope(session, scope: dict) -> set[str]:
    """Userids in scope that are active (status 1): who may be in the group (R1)."""
    users, members = _candidates(session, scope or {})
    return {u for u in users if members.status[u] == STATUS_ACTIVE}


def in_scope(session, scope: dict, userid: str) -> bool:
    """Is this one user (any status except left) in scope? A single check costs two small
    queries; from the INDEX_AFTER-th check in a session on, the whole index answers from memory."""
    scope, userid = scope or {}, (userid or "").strip().lower()
    calls = session.info[CALLS_KEY] = session.info.get(CALLS_KEY, 0) + 1
    if calls > INDEX_AFTER or MEMBERS_KEY in session.info or _use_kept(session):
        return userid in _expanded(session, scope)
    if userid in _lower(scope.get("exclude")):
        return False
    tree = _tree(session)
    status = session.scalar(select(User.status).where(User.userid == userid))
    if status is None or status == STATUS_LEFT:
        return False
    if userid in _lower(scope.get("users")):
        return True
    if any(userid in tree.tag_users.get(int(t), ()) for t in scope.get("tags") or ()):
        return True
    departments = session.scalars(select(UserDepartment.department_id).where(UserDepartment.userid == userid))
    roots = _roots(tree, scope)
    return any(tree.ancestors(d) & roots for d in departments)
