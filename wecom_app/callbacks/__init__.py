"""The callback path (DESIGN §2, §3 HTTP): WeCom's encrypted callbacks verified and decrypted
(`crypto`), stored in the inbox before the answer (`receiver`; the local `spool` when the
database is down), parsed into a frozen `CallbackEvent` (`events`) and routed to the
handlers (`router`, `dispatcher`). The receiver imports nothing of the rules or the outbox."""
