"""Acquirer adapters: the simulated card network and UPI switch (test mode), later PSPs.

The simulators run in the acquirer role (servers/acquirer) and are reached over gRPC
through grpc_client.GrpcAcquirer (wire.py and grpc_errors.py are its translation tables);
without PAYGATE_ACQUIRER_TARGET they run inside the calling process.

Each connector is a pair of modules, as in hyperswitch: the wire glue (`*_simulator.py`,
later `<psp>.py`) and `*_transformers.py`, a total table from the acquirer's raw codes to
paygate's outcomes and decline codes.
"""

from adapters.acquirers.card_network_simulator import (
    CardNetworkSimulator,
    NetworkReply,
    NetworkRequest,
    RequestKind,
)
from adapters.acquirers.simulation import Delivery, SettlementRecord
from adapters.acquirers.upi_simulator import CollectPlan, CollectRequest, UpiSimulator

__all__ = [
    "CardNetworkSimulator",
    "CollectPlan",
    "CollectRequest",
    "Delivery",
    "NetworkReply",
    "NetworkRequest",
    "RequestKind",
    "SettlementRecord",
    "UpiSimulator",
]
