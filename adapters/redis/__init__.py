"""Redis adapters: data that may be lost or rebuilt (DESIGN.md), never a system of record."""
