"""handlers/membership.py: the membership rules acting on change_contact, after contact.py has
updated the mirror in the same transaction: joins (R9), transfers (R9) and departures (R1) in
managed groups become appchat/update rows on the outbox."""

from tests.plugins.handlers import contact, dispatch, managed_group, members, outbox


def test_r9_new_hire_in_scope_is_added_to_the_managed_group(ctx):
    group_id = managed_group(ctx)
    dispatch(ctx, contact("create_user", UserID="sunqi", Name="孙七", Department="2", MainDepartment=2, Status=1))
    assert [p.get("add_user_list") for p in outbox(ctx, "appchat/update")] == [["sunqi"]]
    assert members(ctx, group_id)["sunqi"][0] == "present"


def test_r9_transfer_out_of_scope_removes_from_the_managed_group(ctx):
    group_id = managed_group(ctx)
    dispatch(ctx, contact("update_user", UserID="wangwu", Department="1", MainDepartment=1))
    assert [p.get("del_user_list") for p in outbox(ctx, "appchat/update")] == [["wangwu"]]
    assert members(ctx, group_id)["wangwu"] == ("removing", "out_of_scope")


def test_r1_departed_employee_removed_from_managed_groups(ctx):
    group_id = managed_group(ctx)
    dispatch(ctx, contact("delete_user", UserID="wangwu"))
    assert [p.get("del_user_list") for p in outbox(ctx, "appchat/update")] == [["wangwu"]]
    assert members(ctx, group_id)["wangwu"] == ("removing", "not_active")


def test_r9_update_user_that_cannot_change_membership_enqueues_nothing(ctx):
    group_id = managed_group(ctx)
    dispatch(ctx, contact("update_user", UserID="wangwu", Position="架构师"))
    assert outbox(ctx, "appchat/update") == []
    assert members(ctx, group_id)["wangwu"] == ("present", "ok")
