"""The composition root: builds adapters from Settings and hands them to the use-cases.

app.py         the application (API, worker, web roles and the operator commands)
vault.py       the vault, or a client of the vault role
acquirers.py   the acquirers: the sandbox's simulators in process, or clients of the
               acquirer role
"""
