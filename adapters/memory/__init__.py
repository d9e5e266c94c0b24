"""In-process adapters that production runs: the CVC store, the idempotency store and the
intent change feed of a single-process gateway (the embedded default, an App built by
hand). The in-memory test doubles of the other ports live in tests/fakes/."""
