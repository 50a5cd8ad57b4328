"""The house: errors, strict units, strict YAML, atomic writes and the pump clock. Imports
nothing else of pumpsim."""
