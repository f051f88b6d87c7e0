"""change_external_chat (客户群变更, 92130): customer groups, their members and joins."""
