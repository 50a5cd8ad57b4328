"""The Jinja2 environment of the HTML reports: templates ship inside the package
(``pumpsim/report/templates/*.html.j2``, loaded with ``jinja2.PackageLoader`` so they work from
a wheel), every ``{{ value }}`` is HTML-escaped (autoescape), and an unknown name in a template
is an error rather than an empty string (``StrictUndefined``).

Educators change the look and wording of a report by editing its template; see
docs/teaching.md ("Editing the report templates").
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

__all__ = ["environment", "render"]


@cache
def environment() -> jinja2.Environment:
    """The one environment of the reports (built once)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pumpsim.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """Render the package template ``template`` (e.g. ``"scenario.html.j2"``) with ``context``."""
    return environment().get_template(template).render(**context)
