"""The card vault (PCI zone): validation, tokens, payment methods, envelope encryption."""
