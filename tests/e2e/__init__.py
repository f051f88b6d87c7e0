"""End to end: the app and the sandbox emulator over real HTTP, real servers and outages, and the
browser tests (Playwright in headless Chromium)."""
