"""Teaching: scenarios, questions answered from a trace, cost curves."""
