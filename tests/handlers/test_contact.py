"""handlers/contact.py: change_contact (90970-90972) keeps the directory mirror, one test per
registration. The handler layer alone: an event, the router, the rows."""

from tests.plugins.handlers import contact, dispatch, managed_group, members
from wecom_app.models import Department, Tag, User
from wecom_app.models.directory import STATUS_LEFT


def test_r1_create_user_puts_the_new_hire_in_the_directory_mirror(ctx):
    dispatch(ctx, contact("create_user", UserID="SunQi", Name="孙七", Department="2", MainDepartment=2, Status=1))
    sunqi = ctx.session.get(User, "sunqi")  # userids are kept in lower case
    assert (sunqi.name, sunqi.status, sunqi.main_department, sunqi.stale) == ("孙七", 1, 2, False)


def test_r2_update_user_changes_only_the_fields_it_carries(ctx):
    dispatch(ctx, contact("update_user", UserID="wangwu", Position="架构师"))
    wangwu = ctx.session.get(User, "wangwu")
    assert (wangwu.position, wangwu.name, wangwu.status) == ("架构师", "王五", 1)


def test_r16_update_user_with_a_new_userid_renames_the_person_in_their_groups(ctx):
    group_id = managed_group(ctx)
    dispatch(ctx, contact("update_user", UserID="wangwu", NewUserID="wangwu2"))
    assert ctx.session.get(User, "wangwu2").name == "王五" and ctx.session.get(User, "wangwu") is None
    assert set(members(ctx, group_id)) == {"zhangsan", "lisi", "wangwu2"}


def test_r1_delete_user_marks_the_person_left_and_keeps_the_row(ctx):
    dispatch(ctx, contact("delete_user", UserID="wangwu"))
    wangwu = ctx.session.get(User, "wangwu")
    assert wangwu.status == STATUS_LEFT and wangwu.left_at is not None and wangwu.name == "王五"


def test_r9_create_party_adds_the_department(ctx):
    dispatch(ctx, contact("create_party", Id=4, Name="质量组", ParentId=2, Order=1))
    assert (ctx.session.get(Department, 4).name, ctx.session.get(Department, 4).parentid) == ("质量组", 2)


def test_r9_update_party_renames_the_department(ctx):
    dispatch(ctx, contact("update_party", Id=3, Name="基础平台组"))
    assert ctx.session.get(Department, 3).name == "基础平台组"


def test_r9_delete_party_marks_the_department_deleted(ctx):
    dispatch(ctx, contact("delete_party", Id=3))
    assert ctx.session.get(Department, 3).deleted


def test_r9_update_tag_marks_the_tag_to_be_read_again(ctx):
    """The push names the tag only (its members come in any order, pitfall 11): tag/get reads it."""
    dispatch(ctx, contact("update_tag", TagId=7, AddUserItems="wangwu"))
    assert ctx.session.get(Tag, 7).stale
