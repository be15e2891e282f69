"""Bolt listeners for `/incident`, the incident card's buttons and its forms. Thin: ack first, parse, call a service,
answer.

`register(app, ...)` wires everything onto an AsyncApp (commands/listeners.py); the subcommand table in
commands/table.py is the one source for dispatch, `/incident help` and the app manifest test.
"""

from commands.listeners import register

__all__ = ["register"]
