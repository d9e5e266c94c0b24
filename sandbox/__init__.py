"""External systems simulated for test mode (sandbox): not our adapters, not our servers.

A real acquirer is somebody else's system; in test mode these simulators play it. They are
reached from the gateway through our adapters (adapters/acquirers/grpc_client.py), hosted
by the acquirer role (servers/roles/acquirer.py) or built in process by the composition
root. Nothing here imports servers/ (tests/unit/test_architecture.py).
"""
