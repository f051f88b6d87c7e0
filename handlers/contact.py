"""change_contact (通讯录变更, 90970-90972): keeps the directory mirror current."""
