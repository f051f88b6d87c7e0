"""The WeCom emulator itself (wecom_app/sandbox/): its API, faults, limits, pusher and demo data."""
