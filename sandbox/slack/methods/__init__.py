"""The Slack Web API methods the sandbox emulates, one module per family; `emulator.py` routes calls to them."""
