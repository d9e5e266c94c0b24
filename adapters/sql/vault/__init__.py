"""The vault's PostgreSQL adapter: its own schema (`vault`), tables, repositories, unit of
work and migration chain, so that it can live in a database of its own (split mode) or
next to the other contexts' tables (embedded mode) without sharing anything with them."""
