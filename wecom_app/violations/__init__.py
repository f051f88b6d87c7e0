"""Violations and what follows them (R3, R5, R6, R11, R14, R15): records and the custodian's
decision (`records`), members' reports (`reports`), the sanctions ladder and account
suspension (`sanctions`), and the monthly assessment records (`assessments`)."""
