"""The conversation archive (会话内容存档, document/path/91774): what the app reads of
the chats WeCom archives for a company that bought it.

- `sdk.py`: the `ArchiveSdk` interface (GetChatData, DecryptData), the Finance SDK's
  error codes 10000-10011 as typed errors, and its two implementations — `FinanceSdk`,
  a ctypes binding of the official `libWeWorkFinanceSdk_C.so`, and `EmulatorSdk`, the
  WeCom emulator's HTTP stand-in (DESIGN.md §3).
- `keys.py`: the company's RSA private keys by `publickey_ver` and the decryption of a
  record's `encrypt_random_key` (PKCS#1 v1.5).

Off unless WECOM_ARCHIVE_SECRET, WECOM_ARCHIVE_PRIVATE_KEYS and WECOM_FINANCE_SDK are
all set (wecom_app/config.py). This package imports nothing else of the app.
"""
