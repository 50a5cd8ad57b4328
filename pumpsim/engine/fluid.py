"""Where the fluid is: a well-mixed reservoir and a first-in-first-out dead volume.

The reservoir holds a volume and a drug mass per drug; what leaves it has the reservoir's
concentration. Pump tubing and catheter hold a fixed volume of fluid that moves as a plug: what
enters at the pump end pushes the same volume out at the catheter tip, oldest first. The dose the
patient receives is what leaves the tip.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

Composition = dict[str, float]
"""Drug name → concentration (mg/mL)."""


@dataclass
class Reservoir:
    """A well-mixed reservoir: ``volume_ml`` at ``concentration`` (mg/mL per drug).

    Drawing from a well-mixed reservoir does not change what it holds per mL, so only adding
    fluid changes ``concentration``, and it does so by replacing the dict: the same dict object
    means the same fluid. Treat it as read-only."""

    volume_ml: float
    concentration: Composition

    @property
    def mass_mg(self) -> dict[str, float]:
        """Drug mass held (mg)."""
        return {name: c * self.volume_ml for name, c in self.concentration.items()}

    def draw(self, volume_ml: float) -> Composition:
        """Remove ``volume_ml`` (at most the volume held) and return its concentrations."""
        take = min(volume_ml, self.volume_ml)
        if take > 0:
            self.volume_ml -= take
            if self.volume_ml <= 1e-15:
                self.volume_ml = 0.0
        return self.concentration

    def add(self, volume_ml: float, composition: Composition) -> None:
        """Mix ``volume_ml`` of fluid with ``composition`` into the reservoir."""
        total = self.volume_ml + volume_ml
        if total <= 0:
            return
        old, held = self.concentration, self.volume_ml
        self.concentration = {
            name: (old.get(name, 0.0) * held + composition.get(name, 0.0) * volume_ml) / total
            for name in {**old, **composition}
        }
        self.volume_ml = total


@dataclass
class Parcel:
    volume_ml: float
    composition: Composition


@dataclass
class DeadVolume:
    """Plug flow through pump tubing + catheter. ``parcels[0]`` is at the catheter tip."""

    capacity_ml: float
    parcels: deque[Parcel] = field(default_factory=deque)

    @classmethod
    def filled_with(cls, capacity_ml: float, composition: Composition) -> DeadVolume:
        dead = cls(capacity_ml)
        if capacity_ml > 0:
            dead.parcels.append(Parcel(capacity_ml, dict(composition)))
        return dead

    def push(self, volume_ml: float, composition: Composition) -> dict[str, float]:
        """Push ``volume_ml`` in at the pump end; return the drug mass (mg) that leaves the tip."""
        if volume_ml <= 0:
            return {}
        parcels = self.parcels
        if self.capacity_ml <= 0 or (len(parcels) == 1 and parcels[0].composition is composition):
            # nothing held, or one plug of the same fluid: what goes in comes out unchanged
            return {name: c * volume_ml for name, c in composition.items()}
        last = parcels[-1] if parcels else None
        if last is not None and (
            last.composition is composition or last.composition == composition
        ):
            last.volume_ml += volume_ml
        else:
            parcels.append(Parcel(volume_ml, composition))
        out: dict[str, float] = {}
        remaining = volume_ml
        while remaining > 1e-15 and self.parcels:
            head = self.parcels[0]
            take = min(head.volume_ml, remaining)
            for name, conc in head.composition.items():
                out[name] = out.get(name, 0.0) + conc * take
            head.volume_ml -= take
            remaining -= take
            if head.volume_ml <= 1e-15:
                self.parcels.popleft()
        return out

    def mass_mg(self) -> dict[str, float]:
        """Drug mass held in the dead volume (mg)."""
        total: dict[str, float] = {}
        for p in self.parcels:
            for name, conc in p.composition.items():
                total[name] = total.get(name, 0.0) + conc * p.volume_ml
        return total

    def volume_ml(self) -> float:
        return sum(p.volume_ml for p in self.parcels)

    def flush_with(self, composition: Composition) -> dict[str, float]:
        """Replace the whole content (e.g. a new catheter full of spinal fluid); return the drug
        mass removed (mg), which leaves the system without reaching the patient."""
        removed = self.mass_mg()
        self.parcels.clear()
        if self.capacity_ml > 0:
            self.parcels.append(Parcel(self.capacity_ml, dict(composition)))
        return removed

    def tip_composition(self) -> Composition:
        return dict(self.parcels[0].composition) if self.parcels else {}

    def holds_only(self, composition: Composition) -> bool:
        """Whether everything in the tubing and catheter is fluid of ``composition`` (then what
        leaves the tip is what enters, mL for mL)."""
        if self.capacity_ml <= 0:
            return True
        parcels = self.parcels
        return len(parcels) == 1 and (
            parcels[0].composition is composition or parcels[0].composition == composition
        )
