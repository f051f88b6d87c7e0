"""The conversation archive (会话内容存档, document/path/91774): what the app reads of
the chats WeCom archives for a company that bought it.

- `sdk.py`: the `ArchiveSdk` interface (GetChatData, DecryptData), the Finance SDK's
  error codes 10000-10011 as typed errors, and its two implementations — `FinanceSdk`,
  a ctypes binding of the official `libWeWorkFinanceSdk_C.so`, and `EmulatorSdk`, the
  WeCom emulator's HTTP stand-in (DESIGN.md §3).
- `keys.py`: the company's RSA private keys by `publickey_ver` and the decryption of a
  record's `encrypt_random_key` (PKCS#1 v1.5).

- `pull.py`: the pull from the stored `seq` cursor into `archived_message`, one transaction
  per page; unreadable records kept encrypted; the pull's standing error; the lag and the
  office's alert; readers (job.READERS) for what reads messages (content rules, instructions).
- `rooms.py`: every roomid read with msgaudit/groupchat/get and made a discovered internal
  group; a registered one's members mirrored and judged (R1, R11, R2); the permit list.
- `job.py`: what the `archive` and `archive_notify` jobs run.

Off unless WECOM_ARCHIVE_SECRET, WECOM_ARCHIVE_PRIVATE_KEYS and WECOM_FINANCE_SDK are
all set (wecom_app/config.py). `sdk.py` and `keys.py` import nothing else of the app
(config.py imports keys.py); this file imports nothing, so importing them stays light.
"""
