"""Cryptography behind the vault's ports: AES-256-GCM card ciphertexts (aes_gcm), the KEK
and data key wrapping (kek), keyed card fingerprints (fingerprint). Only this package
imports `cryptography`; core/ never does."""
