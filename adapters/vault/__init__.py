"""The vault as the rest of paygate reaches it: in-process (embedded mode) or over gRPC
(split mode, VaultInternalService). Both implement core.vault.ports.VaultApi (the public
operations) and core.payments.vault_port.CardVault (detokenization for payments)."""
