"""The ledger's repositories on PostgreSQL (docs/ledger.md, "Persistence").

journal.py       SqlLedger: entries, postings, balances from checkpoints;
                 take_checkpoints, the worker's batch job
terms.py         SqlFxRates, SqlMerchantTerms
settlements.py   SqlSettlements
payouts.py       SqlPayouts
disputes.py      SqlDisputes
reconciliation.py  SqlReconciliationSource: the ledger and the payments in one snapshot
"""
