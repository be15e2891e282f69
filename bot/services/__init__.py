"""Use cases: load state from the store, call the domain, persist state and effects; perform effects via ports."""
