"""The vault as the rest of paygate reaches it: in-process (embedded mode) or over gRPC
(split mode, VaultInternalService). Both implement core.vault.ports.VaultApi (the public
operations) and core.payments.ports.CardVault (detokenization for payments)."""
