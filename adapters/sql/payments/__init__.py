"""The payments context's repositories on PostgreSQL: intents.py (payment intents and
their events), attempts.py, refunds.py. The SQL change feed of WatchPaymentIntent is
adapters/sql/intent_changes.py."""
