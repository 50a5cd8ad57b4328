"""The vectorized engine: many trajectories at once, same semantics as the SimPy engine."""
