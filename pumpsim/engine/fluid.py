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
    """A well-mixed reservoir: ``volume_ml`` and ``mass_mg`` per drug."""

    volume_ml: float
    mass_mg: dict[str, float]
    _comp: Composition | None = field(default=None, repr=False, compare=False)

    def composition(self) -> Composition:
        """Current concentrations (mg/mL); empty reservoir → all zero.

        Drawing from a well-mixed reservoir does not change its concentrations, so the result
        is cached until fluid is added; treat it as read-only."""
        if self._comp is None:
            if self.volume_ml <= 0:
                self._comp = {name: 0.0 for name in self.mass_mg}
            else:
                self._comp = {name: m / self.volume_ml for name, m in self.mass_mg.items()}
        return self._comp

    def draw(self, volume_ml: float) -> Composition:
        """Remove ``volume_ml`` (≤ volume) and return the concentrations it carried."""
        comp = self.composition()
        take = min(volume_ml, self.volume_ml)
        if take <= 0:
            return comp
        mass = self.mass_mg
        for name, conc in comp.items():
            mass[name] = max(0.0, mass[name] - conc * take)
        self.volume_ml -= take
        if self.volume_ml <= 1e-15:
            self.volume_ml = 0.0
            for name in mass:
                mass[name] = 0.0
            self._comp = None
        return comp

    def add(self, volume_ml: float, composition: Composition) -> None:
        """Mix ``volume_ml`` of fluid with ``composition`` into the reservoir."""
        self.volume_ml += volume_ml
        for name, conc in composition.items():
            self.mass_mg[name] = self.mass_mg.get(name, 0.0) + conc * volume_ml
        self._comp = None


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
