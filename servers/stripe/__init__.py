"""Stripe's wire format over paygate's own API, so the official Stripe SDKs work unchanged.

An HTTP layer and nothing more: it parses Stripe's form bodies (forms.py) against the
parameters each route declares (surface.py), calls the same gRPC methods as every other
client of the API processes with the caller's own key (backend.py), and renders the
answers and errors in Stripe's shapes (render.py, errors.py). No payment rule lives
here: amounts, statuses, refunds, idempotency, rate limits and access are the API's.
Envoy routes /stripe/ to it (servers/runtime/envoy_config.py); docs/stripe-compatibility.md
lists what it supports.
"""
