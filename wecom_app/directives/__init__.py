"""Directives (R16, 第十一条): an instruction issued through the app with the weight of email or a
signed paper notice. Issue (`issue`), cards and WeCom's answers (`delivery`), acknowledgment
and completion (`acks`), reminders (`followup`), deadlines (`escalation`), the hash-chained
evidence ledger (`ledger`) and the receipt sheet (`receipt_sheet`)."""
