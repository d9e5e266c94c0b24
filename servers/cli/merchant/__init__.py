"""The merchant's `paygate` commands, on the generated Python client (paygate_client):
payments, keys, events tail and login. They speak to the public gRPC API only, as any
merchant's code would, and import nothing of the gateway itself (a test checks)."""
