"""Risk: rules that decide, before any acquirer is called, whether an attempt may go ahead."""
