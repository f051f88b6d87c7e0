"""Fixtures that run the WeCom emulator (wecom_app/sandbox) for tests."""
