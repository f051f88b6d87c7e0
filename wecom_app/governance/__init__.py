"""Group governance (R1, R2, R6-R13): the registry of governed groups (`registry`), who belongs
in one (`scope`), naming conventions (`naming`), the join and real-name rules (`rules`), what
membership events mean (`membership`), the R2 grace period (`real_names`), reconciliation
against WeCom (`reconcile`), customer-group discovery (`discovery`) and re-reads
(`group_reread`), the group size cap (`group_size`) and the sensitive-word rules
(`sensitive_words`). Below the rules, and shared with violations/: telling people (`notify`)
and member rows with the appchat/update that changes them (`members`)."""
