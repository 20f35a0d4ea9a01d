"""The stream file: the plain form from the issue, the estimate forms, and bad input named by line."""

from __future__ import annotations

from importlib import resources

import pytest
from conftest import ISSUE_MAP

from valuestream.errors import StreamFileError
from valuestream.model import StepKind, load_stream, parse_stream


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(StreamFileError) as info:
        parse_stream(text, "stream.yaml")
    assert "stream.yaml" in str(info.value)
    return info.value.problems


def test_the_plain_form_from_the_issue_parses_without_a_workflow() -> None:
    s = parse_stream(ISSUE_MAP)
    assert [st.name for st in s.steps] == ["Discovery", "Legal language", "Build", "QA", "Release"]
    assert s.workflow is None
    legal = s.step("Legal language")
    assert legal.kind is StepKind.approval
    assert (legal.wait_days.low, legal.wait_days.high, legal.wait_days.expected) == (7, 14, 10.5)
    assert s.step("Release").batch_every_days == 14
    assert (
        s.rework[0].from_step == "QA"
        and s.rework[0].to_step == "Build"
        and s.rework[0].share == 0.2
    )


def test_estimate_forms_number_range_observed() -> None:
    s = parse_stream(
        "steps:\n"
        "  - {name: A, touch_days: 3, wait_days: {low: 2, high: 6}}\n"
        "  - {name: B, touch_days: [1, 3], wait_days: {observed: [1, 4, 2.5, 0.5]}}\n"
    )
    a, b = s.steps
    assert a.touch_days.expected == 3 and not a.touch_days.is_range
    assert a.wait_days.expected == 4 and a.wait_days.is_range
    assert b.touch_days.expected == 2
    # observed values: mean (1 + 4 + 2.5 + 0.5) / 4 = 2.0, range from min to max
    assert b.wait_days.observed == (1, 4, 2.5, 0.5)
    assert (b.wait_days.expected, b.wait_days.low, b.wait_days.high) == (2.0, 0.5, 4)


def test_a_bare_list_of_three_or_more_is_observed_values() -> None:
    s = parse_stream("steps:\n  - {name: B, wait_days: [1, 4, 2.5, 0.5]}\n")
    assert s.steps[0].wait_days.observed == (1, 4, 2.5, 0.5)
    assert s.steps[0].wait_days.expected == 2.0


def test_steps_only_is_the_wall_after_the_first_session() -> None:
    s = parse_stream("steps:\n  - name: Discovery\n  - name: Build\n")
    assert len(s.steps) == 2 and s.steps[0].touch_days is None


def test_the_starter_file_is_valid() -> None:
    path = resources.files("valuestream").joinpath("samples/starter.yaml")
    s = load_stream(str(path))
    kinds = {st.kind for st in s.steps}
    assert kinds == set(StepKind)  # the starter shows every kind of step once at least
    assert s.rework and any(st.batch_every_days for st in s.steps)
    assert s.scope.start == s.steps[0].name and s.scope.finish == s.steps[-1].name


def test_rework_to_an_unknown_step_names_its_line() -> None:
    text = "steps:\n  - {name: Build}\n  - {name: QA}\nrework:\n  - from: QA\n    to: Biuld\n    share: 0.2\n"
    [(line, message)] = problems(text)
    assert line == 6 and "Biuld" in message


def test_rework_that_goes_forward_is_refused() -> None:
    [(line, message)] = problems(
        "steps:\n  - {name: Build}\n  - {name: QA}\nrework:\n  - {from: Build, to: QA, share: 0.1}\n"
    )
    assert line == 5 and "back" in message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("steps:\n  - name: Build\n    touch_days: -1\n", 3),
        ("steps:\n  - name: Build\n    wait_days: [2, -3]\n", 3),
        ("steps:\n  - name: Build\n    wait_days: {observed: [2, -3, 4]}\n", 3),
        ("steps:\n  - {name: A, kind: release_gate, batch_every_days: -14}\n", 2),
        ("steps:\n  - name: A\n  - name: B\nrework:\n  - {from: B, to: A, share: -0.2}\n", 5),
    ],
)
def test_negative_times_name_their_line(text: str, line: int) -> None:
    found = problems(text)
    assert {ln for ln, _ in found} == {line}


def test_upside_down_range_is_refused() -> None:
    [(line, message)] = problems("steps:\n  - name: Build\n    wait_days: [9, 3]\n")
    assert line == 3 and "upside down" in message


def test_duplicate_step_names_point_at_the_second() -> None:
    [(line, message)] = problems("steps:\n  - name: Build\n  - name: QA\n  - name: Build\n")
    assert line == 4 and "duplicate" in message and "Build" in message


def test_a_finish_before_the_start_is_refused() -> None:
    [(line, message)] = problems(
        "scope:\n  start: QA\n  finish: Build\nsteps:\n  - name: Build\n  - name: QA\n"
    )
    assert line == 3 and "before the start" in message


def test_a_workflow_finishing_before_it_starts_is_refused() -> None:
    text = "steps:\n  - {name: Build, states: [Doing]}\n  - {name: QA, states: [Testing]}\nworkflow:\n  start: Testing\n  finish: Doing\n"
    [(line, message)] = problems(text)
    assert line == 6 and "before the start" in message


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        "steps:\n  - name: Build\n  - name: Build\nrework:\n  - {from: QA, to: Build, share: 0.2}\n"
    )
    assert {ln for ln, _ in found} == {3, 5}


def test_rework_shares_leaving_a_step_must_stay_below_one():
    text = """steps:
  - {name: Build}
  - {name: QA}
rework:
  - {from: QA, to: Build, share: 0.6}
  - {from: QA, to: Build, share: 0.5}
"""
    with pytest.raises(StreamFileError) as err:
        parse_stream(text, "s.yaml")
    assert err.value.problems[0][0] == 6 and "add up to 110%" in err.value.problems[0][1]


def test_scope_may_be_plain_words_when_it_names_no_step():
    stream = parse_stream("scope: {start: customer opportunity defined, finish: measurable adoption}\n")
    assert stream.scope.finish == "measurable adoption"
