"""The pure incident domain: state machine, timeline and effects. Standard library only; no I/O, no asyncio."""
