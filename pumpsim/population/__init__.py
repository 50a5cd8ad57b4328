"""Population scale: virtual cohorts of pump patients over years, and what they cost.

A cohort specification (``profiles/cohorts/*.yaml``) is simulated patient by patient in blocks;
each block gives a :class:`~pumpsim.population.outcome.CohortTally` of integer counts and
minutes per month, and tallies add up exactly, so the result does not depend on how the blocks
were spread over workers (one process, all local cores, or a Dask cluster). Health economics
(cost presets, discounting, the crossover month, PSA, QALYs and ICERs) is computed from the
tally. docs/cohort.md explains the model and cites every default.
"""
