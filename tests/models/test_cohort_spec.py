"""The cohort model's own rules: distributions (shapes, bounds, clipping), survival, units."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from pumpsim.models.base import FROM_FILE
from pumpsim.models.cohort import Dist, RefillPolicy, Survival


def _policy(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "days_before_alarm": "7 day",
        "lateness": "0 day",
        "no_show": "0 %",
        "rebook_after": "7 day",
        "emergency_after_empty": "1 day",
        "source": "test",
    }
    data.update(changes)
    return data


def test_a_dist_reads_every_shape_in_the_fields_unit() -> None:
    policy = RefillPolicy.model_validate(
        _policy(
            days_before_alarm={"fixed": "48 h"},
            lateness={"normal": {"mean": "12 h", "sd": "6 h", "min": "0 day", "max": "3 day"}},
            emergency_after_empty={
                "lognormal": {"median": "1 day", "sigma": 0.5, "min": "0 day", "max": "14 day"}
            },
        ),
        context=FROM_FILE,
    )
    assert policy.days_before_alarm == Dist.fixed(2.0)
    assert (policy.lateness.mean, policy.lateness.sd) == (0.5, 0.25)
    assert (policy.lateness.low, policy.lateness.high) == (0.0, 3.0)
    assert policy.emergency_after_empty.sigma == 0.5


def test_draws_are_clipped_to_the_bounds() -> None:
    normal = Dist(shape="normal", mean=10.0, sd=5.0, min=8.0, max=11.0)
    z = np.array([-3.0, -0.2, 0.0, 0.1, 3.0])
    assert normal.from_normal(z).tolist() == [8.0, 9.0, 10.0, 10.5, 11.0]
    lognormal = Dist(shape="lognormal", median=2.0, sigma=1.0, min=1.0, max=4.0)
    assert lognormal.from_normal(np.array([-2.0, 0.0, math.log(1.5), 2.0])).tolist() == [
        1.0,
        2.0,
        pytest.approx(3.0, abs=1e-12),
        4.0,
    ]
    assert Dist.fixed(7.0).from_normal(np.zeros(3)).tolist() == [7.0, 7.0, 7.0]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (7, "bare number"),
        ("7 mL", "not a duration"),
        ({"uniform": {}}, "one of"),
        ({"normal": {"mean": "1 day", "sd": "1 day", "min": "0 day"}}, "missing max"),
        (
            {"normal": {"mean": "1 day", "sd": "-1 day", "min": "0 day", "max": "2 day"}},
            "0 or more",
        ),
        ({"normal": {"mean": "1 day", "sd": "1 day", "min": "3 day", "max": "2 day"}}, "above"),
        (
            {"normal": {"mean": "1 day", "sd": "1 day", "min": "0 day", "max": "200 day"}},
            "0 to 120",
        ),
        ({"normal": {"mean": "1 day", "sdev": "1 day"}}, "no field 'sdev'"),
        (
            {"lognormal": {"median": "1 day", "sigma": "1 day", "min": "0 day", "max": "2 day"}},
            "plain number",
        ),
        ({"fixed": "200 day"}, "0 to 120 days"),
    ],
)
def test_bad_dists_say_what_is_wrong(raw: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        RefillPolicy.model_validate(_policy(lateness=raw), context=FROM_FILE)
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [("lateness",)]
    assert message in errors[0]["msg"]


def test_python_code_may_give_numbers_in_internal_units() -> None:
    policy = RefillPolicy.model_validate(_policy(lateness=2, days_before_alarm=7))
    assert policy.lateness == Dist.fixed(2.0)


def test_survival_from_a_share_alive() -> None:
    """53.9 % alive at 182.625 days, Weibull shape 1 (exponential) and 2."""
    exp = Survival.model_validate(
        {"alive_at": "6 month", "alive_share": "53.9 %", "source": "Smith 2002"}, context=FROM_FILE
    )
    assert exp.median == pytest.approx(182.625 * math.log(2) / -math.log(0.539), abs=1e-9)
    weibull = exp.model_copy(update={"shape": 2.0})
    assert weibull.median == pytest.approx(182.625 * math.sqrt(math.log(2) / -math.log(0.539)))
    # S(alive_at) = 53.9 %: the uniform 0.539 maps to exactly alive_at
    for s in (exp, weibull):
        assert s.days_from_uniform(np.array([0.539]))[0] == pytest.approx(182.625, abs=1e-9)
        assert s.days_from_uniform(np.array([0.5]))[0] == pytest.approx(s.median, abs=1e-9)


@pytest.mark.parametrize(
    "data",
    [
        {"source": "x y z"},
        {"median": "200 day", "alive_at": "6 month", "alive_share": "50 %", "source": "x y z"},
        {"alive_at": "6 month", "source": "x y z"},
    ],
)
def test_survival_needs_one_way(data: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Survival.model_validate(data, context=FROM_FILE)
