"""The directory (通讯录, change_contact 90970-90972): WeCom's departments, users and tags applied
to the mirror (`mirror`), the full sync (`full_sync`), and userid renames (`rename`). The
tables are in `wecom_app.models.directory`."""
