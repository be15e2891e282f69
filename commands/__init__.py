"""Bolt listeners for `/incident` and the incident card's buttons. Thin: ack first, parse, call a service, render.

`register(app, services)` wires everything onto an AsyncApp; the subcommand table in commands/table.py is the one
source for registration, `/incident help` and the app manifest test.
"""

from commands.register import register

__all__ = ["register"]
