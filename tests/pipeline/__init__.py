"""The plumbing between WeCom and the rules: callback crypto, the spool, the dispatcher, the WeCom
client, the outbox sender and its limits and quotas, the scheduler, the working calendar."""
