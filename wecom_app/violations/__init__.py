"""Violations and what follows them (R3, R5, R6, R11, R14, R15): the records (`records`, low:
nothing of governance or sanctions), members' reports (`reports`), the custodian's decision
(`decisions`), the sanctions ladder and account suspension (`sanctions`), and the monthly
assessment records (`assessments`)."""
