"""Adapters: one per outside system, the only code that knows its wire format and error codes."""
