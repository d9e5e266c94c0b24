"""Simulated JSON PSPs of test mode, spoken over HTTP by their own process
(`paygate serve --role psp`, server.py): orbit_simulator.py, a card PSP in the style of
Stripe's charges API, and kora_simulator.py, one in the style of Paystack's. Our side of
each is a connector in adapters/acquirers/."""
