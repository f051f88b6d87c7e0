"""Group governance by rule (R1-R15): registry, scope, membership, reports, sanctions, violations,
callbacks dispatched through the dispatcher and the outbox sent to the emulator."""
