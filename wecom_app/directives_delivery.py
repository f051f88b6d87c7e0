"""Directive cards and what WeCom answered (being written)."""
