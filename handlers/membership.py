"""Membership rules acting on directory changes: departures, deactivations,
transfers (R1, R9, R11)."""
