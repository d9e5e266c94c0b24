"""The simulated acquirers of test mode: a card network and a UPI switch, with their books.

The simulators run in the acquirer role (servers/roles/acquirer.py, serving
AcquirerSimulatorService through servicer.py) and are reached over gRPC through
adapters/acquirers/grpc_client.GrpcAcquirer; without PAYGATE_ACQUIRER_TARGET they run
inside the calling process.

Each simulator is a pair of modules, as in hyperswitch: the wire glue (`*_simulator.py`)
and `*_transformers.py`, a total table from the acquirer's raw codes to paygate's outcomes
and decline codes.
"""

from sandbox.acquirer.card_network_simulator import (
    CardNetworkSimulator,
    NetworkReply,
    NetworkRequest,
    RequestKind,
)
from sandbox.acquirer.simulation import Delivery
from sandbox.acquirer.upi_simulator import CollectPlan, CollectRequest, UpiSimulator

__all__ = [
    "CardNetworkSimulator",
    "CollectPlan",
    "CollectRequest",
    "Delivery",
    "NetworkReply",
    "NetworkRequest",
    "RequestKind",
    "UpiSimulator",
]
