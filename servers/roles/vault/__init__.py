"""The vault role (`paygate serve --role vault`): the vault behind VaultInternalService."""
