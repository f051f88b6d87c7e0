"""The fast layer (STYLE.md): build a CallbackEvent, dispatch it to the handlers' router with a
HandlerContext, assert on rows and outbox rows. No emulator, no HTTP, no receiver."""
