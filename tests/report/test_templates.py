"""The HTML reports come from Jinja2 templates inside the package, with autoescaping."""

from __future__ import annotations

import dataclasses

from pumpsim.report.html import render_html
from pumpsim.report.templating import environment, render
from pumpsim.teaching.scenarios import run_scenario


def test_templates_ship_inside_the_package() -> None:
    names = environment().list_templates()
    assert {"_base.html.j2", "_macros.html.j2", "scenario.html.j2", "plan.html.j2"} <= set(names)


def test_every_value_is_escaped() -> None:
    page = render("_base.html.j2")  # renders without a context
    assert page.startswith("<!DOCTYPE html>")
    macro = environment().from_string(
        '{% from "_macros.html.j2" import table %}{{ table(["<h>"], [["<b>&"]], "t", "x") }}'
    )
    out = macro.render()
    assert "<th>&lt;h&gt;</th>" in out and "<td>&lt;b&gt;&amp;</td>" in out


def test_a_hostile_scenario_title_is_escaped() -> None:
    result = run_scenario("pocket-fill")
    sc = dataclasses.replace(result.scenario, title='<script>alert("x")</script>')
    page = render_html(dataclasses.replace(result, scenario=sc))
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
