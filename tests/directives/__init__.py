"""R16 directives: issue, cards and clicks, response codes, renames, the ledger, the receipt sheet."""
