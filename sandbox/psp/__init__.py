"""Simulated JSON PSPs of test mode, each spoken over HTTP by its own process
(`paygate serve --role psp`): orbit_simulator.py, a card PSP in the style of Stripe's
charges API. Our side of each is a connector in adapters/acquirers/."""
