"""The discrete-event (SimPy) engine: one pump, one patient, every event, exact to the minute."""

from pumpsim.engine.simulate import simulate
from pumpsim.engine.trace import (
    AlarmRecord,
    Balance,
    DaySummary,
    Event,
    FillRecord,
    PtmPress,
    RefillRecord,
    SampleTable,
    Trace,
)

__all__ = [
    "AlarmRecord",
    "Balance",
    "DaySummary",
    "Event",
    "FillRecord",
    "PtmPress",
    "RefillRecord",
    "SampleTable",
    "Trace",
    "simulate",
]
