"""Risk: scores every payment before any acquirer is called (docs/risk.md).

model.py (what the engine reads and answers), rules.py (the kinds of rule, pure),
engine.py (scoring and the decision, one call per confirm), ports.py (the velocity store,
overrides, IP countries, metrics hooks), overrides.py (a merchant's own settings).
"""
