"""Password hashing (argon2id) and access tokens (JWT, EdDSA) behind core.access.ports."""
