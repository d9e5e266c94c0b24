"""The composition root: every adapter is built here from Settings and handed to the
use-cases; nothing else in servers/ constructs an adapter.

    app.py         the application (API, worker and web roles): build_app(settings)
    vault.py       the vault, or a client of the vault role: build_vault, vault_access
    acquirers.py   the sandbox's simulators in process, or clients of the acquirer role
    database.py    the database of a command that runs and ends (operator commands, the
                   launcher's seeding)
"""
