"""Schedule semantics shared by both engines: program segments, the one day volume, the PTM
gate and its daily maximum, press times."""
