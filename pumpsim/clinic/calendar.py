"""The clinic's calendar: which days are open, when, how many refills fit, and for whom.

A day is open when its weekday is a clinic weekday, it is not a public holiday (from the
``holidays`` package, for a country and optional subdivision), not an explicit closure, and it
lies inside the planning horizon ``[start, end]``. An explicit ``extra_sessions`` date opens a day
that would otherwise be closed (never a date outside the horizon).

Capacity is counted in appointments per day and per *pool*. Without pools the clinic is one pool
(``"clinic"``) with ``capacity_per_day``. With ``pool_by="nurse"`` (or ``"location"``) each
nurse (location) named in ``pool_capacity`` is its own pool with its own capacity and its own
row of slots; a patient belongs to the pool named in their roster row.

The k-th appointment of a pool on a day starts ``opens + k × slot_minutes``; a pool can never
have more appointments on a day than slots fit between ``opens`` and ``closes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import Field, ValidationError, field_validator, model_validator

from pumpsim.core.clock import parse_weekdays, weekday_name
from pumpsim.core.errors import Problem, ProfileError, PumpsimError
from pumpsim.io.roster import DEFAULT_POOL
from pumpsim.models.base import FrozenModel, MinuteOfDay

__all__ = ["ClinicCalendar", "calendar_from_dict"]


class ClinicCalendar(FrozenModel):
    """Open days, hours, slots and capacity of a refill clinic over a planning horizon.

    Times are local wall-clock times in ``timezone`` (an IANA name such as ``Europe/Berlin``), the
    same clock the pumps keep. Without one, the zone of ``country`` when all of the country's
    zones keep the same time (DE: Europe/Berlin); otherwise the calendar has no time zone, which
    plans fine (dates and wall-clock times) but cannot be exported where an absolute time is
    needed (iCalendar, FHIR): ``tz`` then raises, asking for one. Never UTC by default.
    """

    start: dt.date
    end: dt.date
    """Last day of the horizon (inclusive)."""
    open_weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    """Monday = 0 … Sunday = 6."""
    opens_minute: Annotated[MinuteOfDay, Field(alias="opens", ge=0, le=1439)] = 8 * 60
    closes_minute: Annotated[MinuteOfDay, Field(alias="closes", ge=1, le=1440)] = 16 * 60
    slot_minutes: Annotated[int, Field(ge=5, le=480)] = 30
    capacity_per_day: Annotated[int, Field(ge=0, le=500)] = 8
    pool_by: Literal["nurse", "location"] | None = None
    pool_capacity: Mapping[str, Annotated[int, Field(ge=0, le=500)]] = Field(default_factory=dict)
    country: str | None = None
    subdivision: str | None = None
    closures: frozenset[dt.date] = frozenset()
    extra_sessions: frozenset[dt.date] = frozenset()
    timezone: str | None = None

    @field_validator("open_weekdays", mode="before")
    @classmethod
    def _weekdays(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_weekdays(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'"
            ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"the horizon ends ({self.end}) before it starts ({self.start})")
        if (self.end - self.start).days > 3 * 366:
            raise ValueError("the planning horizon is limited to three years")
        if any(d not in range(7) for d in self.open_weekdays):
            raise ValueError("open_weekdays are 0 (Monday) to 6 (Sunday)")
        if self.closes_minute <= self.opens_minute:
            raise ValueError("the clinic must close after it opens")
        slots = self.slots_per_day
        caps = (
            [self.capacity_per_day] if self.pool_by is None else list(self.pool_capacity.values())
        )
        if self.pool_by is not None and not self.pool_capacity:
            raise ValueError(
                f"pool_by={self.pool_by!r} needs pool_capacity for each {self.pool_by}"
            )
        for cap in caps:
            if cap > slots:
                raise ValueError(
                    f"capacity {cap} per day does not fit: {slots} slots of {self.slot_minutes} min"
                    " between opening and closing"
                )
        if self.subdivision and not self.country:
            raise ValueError("a subdivision needs a country")
        if self.country:
            self._holiday_table()  # raises on an unknown country or subdivision
        return self

    # ------------------------------------------------------------------ days
    @property
    def slots_per_day(self) -> int:
        """How many slots of ``slot_minutes`` fit between opening and closing."""
        return (self.closes_minute - self.opens_minute) // self.slot_minutes

    def _holiday_table(self) -> holidays.HolidayBase:
        return _holiday_table(self.country, self.subdivision, self.start.year, self.end.year + 1)

    def holiday_name(self, day: dt.date) -> str | None:
        """The public holiday on ``day``, if any."""
        name = self._holiday_table().get(day)
        return str(name) if name else None

    def closed_reason(self, day: dt.date) -> str | None:
        """Why the clinic is closed on ``day`` (``None`` when it is open)."""
        if not self.start <= day <= self.end:
            return "outside the planning horizon"
        if day in self.closures:
            return "clinic closure"
        holiday = self.holiday_name(day)
        if holiday and day not in self.extra_sessions:
            return f"public holiday ({holiday})"
        if day.weekday() not in self.open_weekdays and day not in self.extra_sessions:
            return f"the clinic is closed on {weekday_name(day.weekday())}"
        return None

    def is_open(self, day: dt.date) -> bool:
        return self.closed_reason(day) is None

    def days(self) -> Iterator[dt.date]:
        """Every date of the horizon, open or not."""
        day = self.start
        while day <= self.end:
            yield day
            day += dt.timedelta(days=1)

    @property
    def open_days(self) -> tuple[dt.date, ...]:
        """The open days of the horizon, in order (computed on each call: a ``model_copy``
        with new closures must not see old days)."""
        return tuple(d for d in self.days() if self.is_open(d))

    # ------------------------------------------------------------------ pools and slots
    @property
    def pools(self) -> tuple[str, ...]:
        return (DEFAULT_POOL,) if self.pool_by is None else tuple(sorted(self.pool_capacity))

    def capacity(self, pool: str = DEFAULT_POOL) -> int:
        """Appointments per open day for ``pool``."""
        if self.pool_by is None:
            return self.capacity_per_day
        return self.pool_capacity[pool]

    def slot_start(self, day: dt.date, index: int) -> dt.datetime:
        """Local start time of the ``index``-th (0-based) slot on ``day``."""
        minute = self.opens_minute + index * self.slot_minutes
        return dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)

    @model_validator(mode="after")
    def _zone_of_country(self) -> Self:
        if self.timezone is None and self.country:
            zone = country_timezone(self.country, self.start.year)
            if zone is not None:
                object.__setattr__(self, "timezone", zone)
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The clinic's time zone; ``ValueError`` asking for one when it is not known."""
        return ZoneInfo(require_timezone(self.timezone, self.country))


@lru_cache(maxsize=64)
def _holiday_table(
    country: str | None, subdivision: str | None, first_year: int, last_year: int
) -> holidays.HolidayBase:
    """Public holidays of ``country`` (and ``subdivision``) in the years given, cached."""
    if not country:
        return holidays.HolidayBase()
    try:
        return holidays.country_holidays(
            country, subdiv=subdivision, years=range(first_year, last_year + 1)
        )
    except NotImplementedError as exc:
        raise ValueError(
            f"{exc}; use an ISO 3166 country code (and subdivision) that the holidays package "
            "knows, e.g. 'DE' with 'BY', or 'US' with 'CA'"
        ) from None


def calendar_from_dict(data: Mapping[str, Any], source: str = "clinic calendar") -> ClinicCalendar:
    """Validate a calendar mapping (e.g. from YAML or CLI options); every problem at once."""
    try:
        return ClinicCalendar.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"]) or "(calendar)"
            message = err["msg"].removeprefix("Value error, ")
            problems.append(Problem(field, err.get("input"), message))
        raise ProfileError(source, problems) from None


class TimezoneError(PumpsimError):
    """A time needs the clinic's time zone and none is known."""


def country_timezone(country: str, year: int) -> str | None:
    """The IANA zone of ``country`` (ISO 3166 code) when all of its zones keep the same time in
    ``year`` (winter and summer offsets): its principal zone (DE: Europe/Berlin, whose Büsingen
    zone keeps the same time); ``None`` for a country with several times (US) or none known."""
    import pytz  # the country -> zones table (a maintained copy of the tz database's zone.tab)

    zones = pytz.country_timezones.get(country.upper(), [])
    if not zones:
        return None
    probes = (dt.datetime(year, 1, 15, 12), dt.datetime(year, 7, 15, 12))
    offsets = {tuple(ZoneInfo(z).utcoffset(p) for p in probes) for z in zones}
    return str(zones[0]) if len(offsets) == 1 else None


def require_timezone(timezone: str | None, country: str | None) -> str:
    """``timezone``, or ``TimezoneError`` asking for it (naming the country's zones)."""
    if timezone is not None:
        return timezone
    hint = f"; {country} has more than one" if country else ""
    raise TimezoneError(
        "the clinic's time zone is not known: give it (--timezone or timezone:, an IANA name "
        f"such as Europe/Berlin), or a country with one time zone{hint}"
    )
