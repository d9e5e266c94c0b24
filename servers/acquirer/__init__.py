"""The acquirer role: the simulated card network and UPI switch as one process of their own."""
