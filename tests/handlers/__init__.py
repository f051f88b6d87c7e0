"""The fast layer (STYLE.md): build a CallbackEvent, dispatch it to the handlers' router with a
HandlerContext, assert on rows and outbox rows. No emulator, no HTTP, no receiver.
test_<module>.py holds one test (at least) per registration in handlers/<module>.py; the bench
(`ctx`, event builders, `dispatch`) is tests/plugins/handlers.py."""
