"""The vault role (`paygate serve --role vault`) and the vault's composition root."""
