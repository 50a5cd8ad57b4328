"""A roster as FHIR R4 resources, both ways: each ``RosterEntry`` as a Patient, Device,
DeviceUseStatement, Medication(s), MedicationRequest(s) and an Observation, and a Bundle of them
read back into the roster's rows. The mapping, element by element, is ``docs/fhir.md``.

Resources are built as JSON mappings and checked with the ``fhir.resources`` models (the R4B
package, whose models of these resources are R4's); ``bundle_json`` refuses a Bundle the models
reject. Reading a Bundle yields the same ``{column: cell}`` rows a CSV roster gives, so every
rule of ``pumpsim.io.roster`` applies unchanged; a problem names the FHIR path it came from.

Pump times are local wall-clock times. FHIR wants an offset on a time of day, so they are
written with the offset of ``tz`` (the clinic's time zone) and read back as the wall-clock
time written, whatever the offset.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pumpsim.core.errors import Problem, ProfileError, clip
from pumpsim.core.units import CONCENTRATION, DURATION, VOLUME, VOLUME_RATE, parse_quantity
from pumpsim.io.roster import RosterEntry
from pumpsim.models import Infusate, PtmDemand, PtmSettings, Therapy

__all__ = [
    "CODES",
    "EXT",
    "MAX_BUNDLE_BYTES",
    "Resource",
    "bundle_json",
    "bundle_rows",
    "entry_resources",
    "exact_quantity",
    "fhir_time",
    "full_url",
    "quantity",
]

Resource = dict[str, Any]

UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
INTRATHECAL_ROUTE = {"system": SNOMED, "code": "72607000", "display": "Intrathecal route"}
BASE = "urn:pumpsim:fhir"
PATIENT_ID = f"{BASE}:patient-id"
"""``Patient.identifier.system`` of the roster's ``patient_id``."""
CODES = f"{BASE}:code"
"""pumpsim's own code system, for concepts with no LOINC or SNOMED CT code found."""
PUMP_CATALOG = f"{BASE}:pump-catalog"
DRUG_CATALOG = f"{BASE}:drug-catalog"
EXT = {
    name: f"{BASE}:extension:{name}"
    for name in ("allowed-weekdays", "location", "nurse", "ptm-lockout", "ptm-presses-per-day")
}
MAX_BUNDLE_BYTES = 50_000_000
"""The largest Bundle read (a 1,000-patient roster's Bundle is about 3 MB)."""
_NAMESPACE = uuid.UUID("5b0d3f6e-52b1-4f43-9c53-6d2f6a1e9a14")


def full_url(kind: str, key: str) -> str:
    """A stable ``urn:uuid`` for a resource: the same patient gets the same one in every Bundle."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}/{key}')}"


def _number(value: float) -> float | int:
    """A value as written: 12 significant digits, whole numbers without a fraction."""
    rounded = float(f"{value:.12g}")
    return int(rounded) if rounded.is_integer() else rounded


def quantity(value: float, unit: str, display: str | None = None) -> dict[str, Any]:
    """A UCUM ``Quantity`` (12 significant digits)."""
    return {"value": _number(value), "unit": display or unit, "system": UCUM, "code": unit}


_CANDIDATES: dict[str, tuple[tuple[float, str, str], ...]] = {
    # kind: (factor from pumpsim's unit, UCUM code, the unit as pumpsim reads it back)
    "volume": ((1, "mL", "mL"),),
    "volume rate": ((1, "mL/d", "mL/day"),),
    "duration": ((1440, "min", "min"), (24, "h", "h"), (1, "d", "day")),
    "mg/mL": ((1, "mg/mL", "mg/mL"),),
    "mcg/mL": ((1000, "ug/mL", "mcg/mL"),),
}
_KINDS = {
    "volume": VOLUME,
    "volume rate": VOLUME_RATE,
    "duration": DURATION,
    "mg/mL": CONCENTRATION,
    "mcg/mL": CONCENTRATION,
}


def exact_quantity(stored: float, kind: str) -> dict[str, Any]:
    """A UCUM ``Quantity`` for a value in pumpsim's unit (mL, mL/day, days, mg/mL) that reads
    back as the very same float: the shortest such number in the first unit that allows one,
    so a Bundle plans exactly as the roster it came from."""
    for factor, code, text_unit in _CANDIDATES[kind]:
        value = stored * factor
        for number in (_number(value), value):
            if parse_quantity(f"{number!r} {text_unit}", _KINDS[kind]) == stored:
                return {"value": number, "unit": code, "system": UCUM, "code": code}
    factor, code, _ = _CANDIDATES[kind][0]
    return {"value": stored * factor, "unit": code, "system": UCUM, "code": code}


def fhir_time(value: dt.datetime, tz: ZoneInfo) -> str:
    """A pump wall-clock time as a FHIR ``dateTime`` with the offset of ``tz`` at that time."""
    return value.replace(tzinfo=tz).isoformat(timespec="seconds")


def coding(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": CODES, "code": code, "display": display}], "text": display}


def entry_resources(
    entry: RosterEntry, tz: ZoneInfo, *, include_names: bool = False
) -> list[tuple[str, Resource]]:
    """The FHIR resources of one roster patient with their ``fullUrl`` (pseudonymous: the
    ``patient_id`` as identifier, no name unless ``include_names``)."""
    therapy = entry.therapy
    pid = therapy.patient_id
    patient: Resource = {
        "resourceType": "Patient",
        "identifier": [{"system": PATIENT_ID, "value": pid}],
    }
    extensions = _patient_extensions(entry)
    if extensions:
        patient["extension"] = extensions
    if include_names and entry.name:
        patient["name"] = [{"text": entry.name}]
    use = {
        "resourceType": "DeviceUseStatement",
        "status": "active",
        "subject": {"reference": full_url("Patient", pid)},
        "device": {"reference": full_url("Device", pid)},
    }
    resources = [
        (full_url("Patient", pid), patient),
        (full_url("Device", pid), _device(therapy)),
        (full_url("DeviceUseStatement", pid), use),
        (full_url("Medication", pid), _medication(therapy.infusate)),
        (full_url("MedicationRequest", pid), _request(entry, therapy)),
        (full_url("Observation", pid), _volume_observation(therapy, tz)),
    ]
    if entry.next_therapy is not None:
        resources.append(
            (full_url("Medication/next", pid), _medication(entry.next_therapy.infusate))
        )
        resources.append((full_url("MedicationRequest/next", pid), _next_request(pid)))
    return resources


def _patient_extensions(entry: RosterEntry) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if entry.allowed_weekdays is not None:
        names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        days = ",".join(names[d] for d in sorted(entry.allowed_weekdays))
        out.append({"url": EXT["allowed-weekdays"], "valueString": days})
    for key, value in (("location", entry.location), ("nurse", entry.nurse)):
        if value is not None:
            out.append({"url": EXT[key], "valueString": value})
    return out


def _device(therapy: Therapy) -> Resource:
    pump = therapy.pump
    properties = [
        {
            "type": coding("reservoir-volume", "reservoir volume"),
            "valueQuantity": [exact_quantity(pump.reservoir_ml, "volume")],
        },
        {
            "type": coding("catheter-volume", "catheter volume"),
            "valueQuantity": [exact_quantity(therapy.catheter.volume_ml, "volume")],
        },
    ]
    if therapy.alarms.low_reservoir_ml is not None:
        properties.append(
            {
                "type": coding("low-reservoir-alarm", "low-reservoir alarm threshold (set)"),
                "valueQuantity": [exact_quantity(therapy.alarms.low_reservoir_ml, "volume")],
            }
        )
    elif pump.low_reservoir_alarm is not None:
        properties.append(
            {
                "type": coding("low-reservoir-alarm-default", "low-reservoir alarm (pump default)"),
                "valueQuantity": [exact_quantity(pump.low_reservoir_alarm.default_ml, "volume")],
            }
        )
    return {
        "resourceType": "Device",
        "type": {"coding": [{"system": PUMP_CATALOG, "code": pump.key, "display": pump.name}]},
        "deviceName": [{"name": pump.name, "type": "model-name"}],
        "patient": {"reference": full_url("Patient", therapy.patient_id)},
        "property": properties,
    }


def _medication(infusate: Infusate) -> Resource:
    ingredients = []
    for drug in infusate.drugs:
        unit = drug.mass_unit
        ingredients.append(
            {
                "itemCodeableConcept": {
                    "coding": [{"system": DRUG_CATALOG, "code": drug.name}],
                    "text": drug.name,
                },
                "isActive": True,
                "strength": {
                    "numerator": _per_ml(drug.concentration_mg_per_ml, unit),
                    "denominator": quantity(1, "mL"),
                },
            }
        )
    return {
        "resourceType": "Medication",
        "code": {"text": infusate.label()},
        "ingredient": ingredients,
    }


def _per_ml(mg_per_ml: float, unit: str) -> dict[str, Any]:
    """A concentration's numerator: the drug's mass unit in 1 mL (the denominator)."""
    exact = exact_quantity(mg_per_ml, f"{unit}/mL")
    mass = exact["code"].removesuffix("/mL")
    return {**exact, "unit": unit, "code": mass}


def _request(entry: RosterEntry, therapy: Therapy) -> Resource:
    pid = therapy.patient_id
    request: Resource = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": full_url("Medication", pid)},
        "subject": {"reference": full_url("Patient", pid)},
        "dosageInstruction": _dosages(therapy),
    }
    if entry.refill_volume_ml is not None:
        request["dispenseRequest"] = {"quantity": exact_quantity(entry.refill_volume_ml, "volume")}
    return request


def _dosages(therapy: Therapy) -> list[dict[str, Any]]:
    """The program as dosages: the basal rate (mL/day), then the patient bolus (PTM)."""
    program = therapy.program
    route = {"coding": [INTRATHECAL_ROUTE]}
    if program.mode == "simple" and program.rate_ml_per_day is not None:
        basal: dict[str, Any] = {
            "sequence": 1,
            "text": "basal infusion",
            "route": route,
            "doseAndRate": [
                {"rateQuantity": exact_quantity(program.rate_ml_per_day, "volume rate")}
            ],
        }
    else:
        basal = {"sequence": 1, "text": f"{program.mode} program (steps not exported)"}
    out = [basal]
    if therapy.ptm is not None:
        out.append(_ptm_dosage(therapy.ptm, therapy.demand, route))
    return out


def _ptm_dosage(ptm: PtmSettings, demand: PtmDemand | None, route: Any) -> dict[str, Any]:
    """The patient bolus as an as-needed dosage: dose, duration, daily cap; lockout and the
    demand model (mean presses a day) as extensions (R4 has no minimum interval)."""
    duration = exact_quantity(ptm.duration_days, "duration")
    extensions: list[dict[str, Any]] = [
        {"url": EXT["ptm-lockout"], "valueDuration": exact_quantity(ptm.lockout_days, "duration")}
    ]
    if demand is not None and demand.presses_per_day is not None:
        extensions.append(
            {"url": EXT["ptm-presses-per-day"], "valueDecimal": demand.presses_per_day}
        )
    return {
        "sequence": 2,
        "text": "patient therapy manager (PTM) bolus",
        "route": route,
        "asNeededBoolean": True,
        "timing": {
            "repeat": {
                "duration": duration["value"],
                "durationUnit": duration["code"],
                "frequency": ptm.max_per_day,
                "period": 1,
                "periodUnit": "d",
            }
        },
        "doseAndRate": [{"doseQuantity": exact_quantity(ptm.bolus_volume_ml, "volume")}],
        "extension": extensions,
    }


def _next_request(pid: str) -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "plan",
        "medicationReference": {"reference": full_url("Medication/next", pid)},
        "subject": {"reference": full_url("Patient", pid)},
        "priorPrescription": {"reference": full_url("MedicationRequest", pid)},
        "note": [{"text": "the prescription for the next refill"}],
    }


def _volume_observation(therapy: Therapy, tz: ZoneInfo) -> Resource:
    state = therapy.state
    observation: Resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": coding("calculated-reservoir-volume", "calculated reservoir volume"),
        "subject": {"reference": full_url("Patient", therapy.patient_id)},
        "device": {"reference": full_url("Device", therapy.patient_id)},
        "effectiveDateTime": fhir_time(state.time, tz),
        "valueQuantity": exact_quantity(state.calculated_volume_ml, "volume"),
    }
    if state.filled_at is not None:
        observation["component"] = [
            {
                "code": coding("last-refill", "time of the last refill"),
                "valueDateTime": fhir_time(state.filled_at, tz),
            }
        ]
    return observation


def bundle_json(
    resources: list[tuple[str, Resource]], timestamp: dt.datetime, bundle_type: str = "collection"
) -> str:
    """A Bundle of ``(fullUrl, resource)`` as JSON, checked by the FHIR models first."""
    from fhir.resources.R4B.bundle import Bundle

    data = {
        "resourceType": "Bundle",
        "type": bundle_type,
        "timestamp": timestamp.isoformat(timespec="seconds"),
        "entry": [{"fullUrl": url, "resource": resource} for url, resource in resources],
    }
    Bundle.model_validate(data)  # raises on anything FHIR R4 would not accept
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


# ---- reading ------------------------------------------------------------------------------

_UNITS = {"mL": "mL", "mL/d": "mL/day", "d": "day", "min": "min", "h": "h", "mg": "mg", "ug": "mcg"}
Rows = list[tuple[int, dict[str, str] | Problem]]


def bundle_rows(path: Path) -> tuple[Rows, Callable[[int, str | None], str]]:
    """A Bundle's patients as roster rows (``{column: cell}``, numbered by their entry index),
    and ``where(number, column)``: the FHIR path each cell came from."""
    data = _bundle_data(path)
    entries = data.get("entry") or []
    by_url = {e.get("fullUrl"): (i, e["resource"]) for i, e in enumerate(entries)}
    rows: Rows = []
    paths: dict[int, dict[str, str]] = {}
    for i, item in enumerate(entries):
        resource = item["resource"]
        if resource.get("resourceType") == "Patient":
            builder = _RowBuilder(i, item.get("fullUrl"), resource, entries, by_url)
            rows.append((i, builder.row))
            paths[i] = builder.paths

    def where(number: int, column: str | None) -> str:
        patient = f"Bundle.entry[{number}].resource(Patient)"
        if column is None:
            return patient
        return paths.get(number, {}).get(column, f"{patient} ({column})")

    return rows, where


def _bundle_data(path: Path) -> dict[str, Any]:
    """The Bundle's JSON, checked against the FHIR models; a ``ProfileError`` otherwise."""
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    source = str(path)
    if path.stat().st_size > MAX_BUNDLE_BYTES:
        raise ProfileError(source, [Problem("Bundle", "(file)", f"at most {MAX_BUNDLE_BYTES:,} B")])
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ProfileError(source, [Problem("Bundle", path.name, f"JSON ({exc})")]) from None
    kind = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
    if kind != "Bundle":
        raise ProfileError(source, [Problem("resourceType", kind, "Bundle (a FHIR R4 Bundle)")])
    try:
        Bundle.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(source, [_problem(e) for e in exc.errors()[:50]]) from None
    checked: dict[str, Any] = data
    return checked


def _problem(error: Mapping[str, Any]) -> Problem:
    """A model error as ``Problem(FHIR path, value, what is allowed)``."""
    path = "Bundle"
    for part in error.get("loc", ()):
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    value = error.get("input")
    shown = value if isinstance(value, str | int | float) else clip(json.dumps(value, default=str))
    return Problem(path, shown, str(error.get("msg", "a valid FHIR value")))


def _coded(concept: Any, system: str) -> str | None:
    for coding in (concept or {}).get("coding") or []:
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def _amount(q: Mapping[str, Any]) -> str:
    """A FHIR Quantity as a roster cell, ``0.25 mL``."""
    if q.get("value") is None:
        return ""
    code = q.get("code") or q.get("unit") or ""
    return f"{q['value']} {_UNITS.get(code, code)}".strip()


def _wall_clock(text: str) -> str:
    """A FHIR dateTime as the pump's wall-clock time (the offset written is dropped)."""
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=None).isoformat()
    except ValueError:
        return text  # the roster's own time check reports it


class _RowBuilder:
    """One Patient and the resources that point at it, as a roster row with FHIR paths."""

    def __init__(
        self,
        index: int,
        url: str | None,
        patient: Mapping[str, Any],
        entries: list[Mapping[str, Any]],
        by_url: Mapping[str | None, tuple[int, Mapping[str, Any]]],
    ) -> None:
        self.row: dict[str, str] = {}
        self.paths: dict[str, str] = {}
        self.by_url = by_url
        self.entries = entries
        self.url = url
        at = f"Bundle.entry[{index}].resource"
        self.default = f"{at}(Patient)"
        self._patient(patient, at)
        for i, resource in self._pointing("Device", "patient"):
            self._device(resource, f"Bundle.entry[{i}].resource")
        for i, resource in self._pointing("MedicationRequest", "subject"):
            self._request(resource, f"Bundle.entry[{i}].resource")
        for i, resource in self._pointing("Observation", "subject"):
            if _coded(resource.get("code"), CODES) == "calculated-reservoir-volume":
                self._observation(resource, f"Bundle.entry[{i}].resource")

    def _set(self, column: str, value: Any, path: str) -> None:
        if value is not None and str(value).strip():
            self.row[column] = str(value).strip()
        self.paths[column] = path

    def _pointing(self, kind: str, element: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
        for i, item in enumerate(self.entries):
            resource = item["resource"]
            ref = (resource.get(element) or {}).get("reference")
            if resource.get("resourceType") == kind and ref is not None and ref == self.url:
                yield i, resource

    def _patient(self, patient: Mapping[str, Any], at: str) -> None:
        self.paths["patient_id"] = f"{at}.identifier"
        for k, ident in enumerate(patient.get("identifier") or []):
            if ident.get("system") == PATIENT_ID:
                self._set("patient_id", ident.get("value"), f"{at}.identifier[{k}].value")
        for k, name in enumerate(patient.get("name") or []):
            self._set("name", name.get("text"), f"{at}.name[{k}].text")
        columns = {url: name for name, url in EXT.items()}
        for k, ext in enumerate(patient.get("extension") or []):
            column = columns.get(ext.get("url"), "").replace("-", "_")
            if column in ("allowed_weekdays", "location", "nurse"):
                self._set(column, ext.get("valueString"), f"{at}.extension[{k}].valueString")

    def _device(self, device: Mapping[str, Any], at: str) -> None:
        self._set("pump", _coded(device.get("type"), PUMP_CATALOG), f"{at}.type.coding")
        wanted = {
            "catheter-volume": "catheter_volume",
            "low-reservoir-alarm": "low_reservoir_alarm",
        }
        for k, prop in enumerate(device.get("property") or []):
            column = wanted.get(_coded(prop.get("type"), CODES) or "")
            values = prop.get("valueQuantity") or []
            if column is not None and values:
                self._set(column, _amount(values[0]), f"{at}.property[{k}].valueQuantity[0]")

    def _drugs(self, request: Mapping[str, Any], at: str) -> str | None:
        """The ``drugs`` cell of the Medication a request points at."""
        ref = (request.get("medicationReference") or {}).get("reference")
        found = self.by_url.get(ref)
        if found is None or found[1].get("resourceType") != "Medication":
            self.paths["drugs"] = f"{at}.medicationReference"
            return None
        parts = []
        for item in found[1].get("ingredient") or []:
            code = _coded(item.get("itemCodeableConcept"), DRUG_CATALOG) or "(no drug code)"
            strength = item.get("strength") or {}
            parts.append(f"{code} {_amount(strength.get('numerator') or {})}/mL")
        return " + ".join(parts) or None

    def _request(self, request: Mapping[str, Any], at: str) -> None:
        if request.get("priorPrescription") is not None:
            self._set("next_drugs", self._drugs(request, at), f"{at}.medicationReference")
            return
        self._set("drugs", self._drugs(request, at), f"{at}.medicationReference")
        self.paths["daily_rate"] = f"{at}.dosageInstruction"
        for k, dosage in enumerate(request.get("dosageInstruction") or []):
            where = f"{at}.dosageInstruction[{k}]"
            if dosage.get("asNeededBoolean"):
                self._ptm(dosage, where)
                continue
            for rate in dosage.get("doseAndRate") or []:
                if rate.get("rateQuantity") is not None:
                    self._set("daily_rate", _amount(rate["rateQuantity"]), f"{where}.doseAndRate")
        volume = (request.get("dispenseRequest") or {}).get("quantity")
        if volume is not None:
            self._set("refill_volume", _amount(volume), f"{at}.dispenseRequest.quantity")

    def _ptm(self, dosage: Mapping[str, Any], at: str) -> None:
        for rate in dosage.get("doseAndRate") or []:
            if rate.get("doseQuantity") is not None:
                self._set("ptm_bolus", _amount(rate["doseQuantity"]), f"{at}.doseAndRate")
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        duration = _amount({"value": repeat.get("duration"), "code": repeat.get("durationUnit")})
        self._set("ptm_duration", duration, f"{at}.timing.repeat.duration")
        self._set("ptm_max_per_day", repeat.get("frequency"), f"{at}.timing.repeat.frequency")
        for k, ext in enumerate(dosage.get("extension") or []):
            if ext.get("url") == EXT["ptm-lockout"]:
                value = _amount(ext.get("valueDuration") or {})
                self._set("ptm_lockout", value, f"{at}.extension[{k}].valueDuration")
            elif ext.get("url") == EXT["ptm-presses-per-day"]:
                value = ext.get("valueDecimal")
                self._set("ptm_presses_per_day", value, f"{at}.extension[{k}].valueDecimal")

    def _observation(self, observation: Mapping[str, Any], at: str) -> None:
        when = observation.get("effectiveDateTime")
        self._set("last_interrogation", when and _wall_clock(when), f"{at}.effectiveDateTime")
        volume = observation.get("valueQuantity") or {}
        self._set("calculated_volume", _amount(volume) or None, f"{at}.valueQuantity")
        for k, component in enumerate(observation.get("component") or []):
            if _coded(component.get("code"), CODES) == "last-refill":
                when = component.get("valueDateTime")
                self._set(
                    "last_refill", when and _wall_clock(when), f"{at}.component[{k}].valueDateTime"
                )
