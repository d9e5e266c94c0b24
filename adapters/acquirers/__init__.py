"""Our side of each acquirer: the Acquirer port over the wire, and the routing between them.

    grpc_client.py      GrpcAcquirer: the Acquirer (and DisputeFeed) port on
                        AcquirerSimulatorService, the acquirer role's API
    wire.py             core objects <-> acquirer messages, both ways (shared with the
                        acquirer role's servicer, sandbox/acquirer/servicer.py)
    grpc_errors.py      AcquirerErrors <-> gRPC statuses, both ways
    router.py           which acquirer a payment method goes to
    settlement_file.py  the acquirer's daily settlement file, written and read

The simulated acquirers themselves are an external system and live apart, in
sandbox/acquirer/; later PSP connectors land here, one module (plus its code table) each.
"""
