"""Domain types: the stream (steps, rework loops, workflow, cost of delay, events) and its file form.

A stream file (``stream.yaml``) is validated into a :class:`Stream`. Every problem is reported with
the line of the file it comes from, so a facilitator can fix the wall's transcript in one pass.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from valuestream.errors import InputError, StreamFileError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Estimate(_Model):
    """A workshop estimate in calendar days: one number, a low/high range, or observed values.

    In YAML: ``3``, ``[2, 5]`` (a range), ``{observed: [1, 4, 2.5]}`` or ``{low: 2, high: 5}``.
    A list of three or more numbers is read as observed values.
    """

    low: float = Field(ge=0)
    high: float = Field(ge=0)
    observed: tuple[float, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_plain(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a number of days, a [low, high] range or observed values")
        if isinstance(value, int | float):
            return {"low": value, "high": value}
        if isinstance(value, list | tuple):
            if len(value) == 2:
                return {"low": value[0], "high": value[1]}
            if len(value) >= 3:
                nums = [float(v) for v in value]
                return {"low": min(nums), "high": max(nums), "observed": tuple(nums)}
            raise ValueError("a range needs two numbers, [low, high]")
        if isinstance(value, dict) and "observed" in value and "low" not in value:
            obs = value["observed"]
            if not isinstance(obs, list | tuple) or not obs:
                raise ValueError("observed needs a list of numbers of days")
            nums = [float(v) for v in obs]
            return {"low": min(nums), "high": max(nums), "observed": tuple(nums)}
        return value

    @model_serializer(mode="plain")
    def _to_plain(self) -> Any:
        # The file form a person writes: observed values, a [low, high] range, or one number.
        if self.observed is not None:
            return {"observed": list(self.observed)}
        return self.low if self.low == self.high else [self.low, self.high]

    @model_validator(mode="after")
    def _ordered(self) -> Estimate:
        if self.high < self.low:
            raise ValueError(f"the range is upside down: low {self.low} > high {self.high}")
        if self.observed is not None and any(v < 0 for v in self.observed):
            raise ValueError("observed days cannot be negative")
        return self

    @property
    def expected(self) -> float:
        """The central estimate: the mean of observed values, else the middle of the range."""
        if self.observed:
            return sum(self.observed) / len(self.observed)
        return (self.low + self.high) / 2

    @property
    def is_range(self) -> bool:
        return self.high > self.low


class StepKind(StrEnum):
    work = "work"
    handoff = "handoff"
    approval = "approval"
    release_gate = "release_gate"
    queue = "queue"


class Step(_Model):
    """One step of the stream as the team placed it on the wall."""

    name: str = Field(min_length=1)
    kind: StepKind = StepKind.work
    owner: str | None = None
    states: tuple[str, ...] = ()
    """Tracker states that belong to this step; none means the step exists only on the wall."""
    touch_days: Estimate | None = None
    wait_days: Estimate | None = None
    batch_every_days: float | None = Field(default=None, gt=0)
    """A release gate that batches work on a cadence: items wait on average half of it."""
    capacity: int | None = Field(default=None, ge=1)
    """People (or environments) who can work on items at this step at the same time."""
    visits: float | None = Field(default=None, ge=0)
    """Passes per item, as measured (rework and skipping included): when given, this step's
    touch and wait are per pass and the rework loops do not multiply them again. 0: no finished
    item has passed it (its figures are those of the items in it now; it adds nothing to lead)."""
    entry: str | None = None
    exit: str | None = None
    notes: str | None = None


class ReworkLoop(_Model):
    """A share of items that goes back from one step to an earlier one."""

    from_step: str = Field(alias="from")
    to_step: str = Field(alias="to")
    share: float = Field(gt=0, lt=1)


def _names(value: Any) -> Any:
    """One state name or a list of them, as a tuple (the file may give either)."""
    return (value,) if isinstance(value, str) else value


CATEGORIES = {"new": "new", "to do": "new", "todo": "new", "indeterminate": "indeterminate"}
CATEGORIES |= {"in progress": "indeterminate", "in_progress": "indeterminate", "done": "done"}
"""Jira's status categories by key or name (any case) -> the key: new, indeterminate, done."""
CATEGORY_NAMES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
CATEGORY_ORDER = ("new", "indeterminate", "done")
"""The categories in the order work moves through them."""


@dataclass(frozen=True)
class KnownState:
    """What the workspace knows of one tracker state beyond its name: its status category (new,
    indeterminate or done) and the board column that holds it, with the column's place (0 = left)."""

    state: str
    category: str | None = None
    column: str | None = None
    column_order: int | None = None


class Boundary(_Model):
    """A stream boundary named by what the tracker knows of its states rather than by their names:
    a status category (``{category: In Progress}``) or board columns (``{column: Done}``, or a list).
    It is resolved into states with what the workspace learnt at import (:meth:`Workflow.resolve`)."""

    category: str | None = None
    column: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        if isinstance(value, dict) and "column" in value:
            value = {**value, "column": _names(value["column"])}
        if isinstance(value, dict) and isinstance(value.get("category"), str):
            key = CATEGORIES.get(value["category"].strip().lower())
            if key is None:
                raise ValueError(f"'{value['category']}' is not a status category: expected To Do, In Progress or Done")
            value = {**value, "category": key}
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Boundary:
        if (self.category is None) == (not self.column):
            raise ValueError("give either a status category ({category: In Progress}) or board columns ({column: Done})")
        return self

    @model_serializer(mode="plain")
    def _to_plain(self) -> Any:
        if self.category is not None:
            return {"category": CATEGORY_NAMES[self.category]}
        return {"column": self.column[0] if len(self.column) == 1 else list(self.column)}

    def describe(self) -> str:
        if self.category is not None:
            return f"{{category: {CATEGORY_NAMES[self.category]}}}"
        return "{column: " + (self.column[0] if len(self.column) == 1 else "[" + ", ".join(self.column) + "]") + "}"

    def split(self, known: Sequence[KnownState], where: str) -> tuple[list[str], list[str]]:
        """(the states at this boundary, the states before it), ordered left to right on the board.

        Raises :class:`InputError` in one line, starting with ``where``, when the workspace knows no
        categories (no columns), or a column named is not on the board."""
        at, before = self._by_category(known, where) if self.category is not None else self._by_column(known, where)
        place = {k.state: (k.column_order if k.column_order is not None else 1 << 30, k.state) for k in known}
        return sorted(at, key=place.__getitem__), sorted(before, key=place.__getitem__)

    def _by_category(self, known: Sequence[KnownState], where: str) -> tuple[list[str], list[str]]:
        categorised = [k for k in known if k.category in CATEGORY_ORDER]
        if not categorised:
            raise InputError(
                f"{where}: {self.describe()} needs the status categories of the states, and this workspace "
                "has none; they come with a Jira import (import again to record them)"
            )
        rank = CATEGORY_ORDER.index(self.category or "")
        at = [k.state for k in categorised if k.category == self.category]
        if not at:
            have = sorted({CATEGORY_NAMES[k.category or ""] for k in categorised})
            raise InputError(
                f"{where}: no state of the category {CATEGORY_NAMES[self.category or '']} is known; "
                f"the states known have {', '.join(have)}"
            )
        return at, [k.state for k in categorised if CATEGORY_ORDER.index(k.category or "") < rank]

    def _by_column(self, known: Sequence[KnownState], where: str) -> tuple[list[str], list[str]]:
        columns = {k.column: k.column_order for k in known if k.column is not None}
        if not columns:
            raise InputError(
                f"{where}: {self.describe()} needs the board's columns, and this workspace knows none; import from "
                "Jira with --board ID, or with the board configuration saved beside the responses (--offline)"
            )
        by_fold = {c.casefold(): c for c in columns}
        named = []
        for wanted in self.column:
            found = wanted if wanted in columns else by_fold.get(wanted.casefold())
            if found is None:
                board = sorted(columns, key=lambda c: (columns[c] if columns[c] is not None else 1 << 30, c))
                raise InputError(f"{where}: no board column '{wanted}'; the board's columns are {', '.join(board)}")
            named.append(found)
        first = min((o for c in named if (o := columns[c]) is not None), default=None)
        at = [k.state for k in known if k.column in named]
        if first is None:
            return at, []
        left = [k.state for k in known if k.column not in named and k.column_order is not None and k.column_order < first]
        return at, left


class Workflow(_Model):
    """How raw tracker states map onto the stream: where it starts and finishes, touch and wait.

    ``start`` and ``finish`` name states, or (in the file) a status category or board columns
    (``start: {category: In Progress}``, ``finish: {column: [Done, Released]}``): those are kept
    in ``start_by`` / ``finish_by`` and become states in :meth:`resolve`, with what the workspace
    knows of its states.
    """

    start_by: Boundary | None = None
    finish_by: Boundary | None = None
    start: str | None = Field(default=None, validate_default=True)
    finish: tuple[str, ...] = Field(default=(), validate_default=True)
    """The states that finish an item: one name or a list (``[Resolved, Closed]``)."""
    touch: tuple[str, ...] = ()
    wait: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    """States an item can be in before it enters the stream (an idea funnel, say)."""
    discarded: tuple[str, ...] = ()
    """States that take an item out of the stream unfinished (abandoned, rejected, won't do)."""
    reopened: Literal["first", "last"] = "first"
    """Which finish counts for an item that left the finish states and came back: its first, or
    its last (then an item reopened and not finished again is back in progress)."""

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = dict(value)
            for key in ("start", "finish"):
                if isinstance(value.get(key), dict | Boundary):
                    value[f"{key}_by"] = value.pop(key)
            for key in ("finish", "discarded", "touch", "wait", "blocked", "before"):
                if key in value:
                    value[key] = _names(value[key])
        return value

    @model_serializer(mode="wrap")
    def _to_plain(self, handler: Any) -> Any:
        # The file form a person writes: one finish state as a plain name, a boundary in its place.
        data = handler(self)
        if isinstance(data, dict):
            if len(self.finish) == 1:
                data["finish"] = self.finish[0]
            for key in ("start", "finish"):
                by = data.pop(f"{key}_by", None)
                if by is not None:
                    data[key] = by
        return data

    @field_validator("start")
    @classmethod
    def _some_start(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A start_by that failed is missing from info.data, and already reported.
        if value is None and "start_by" in info.data and info.data["start_by"] is None:
            raise ValueError("name the state where the stream starts, or {category: In Progress}, or {column: NAME}")
        return value

    @field_validator("finish")
    @classmethod
    def _some_finish(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not value and "finish_by" in info.data and info.data["finish_by"] is None:
            raise ValueError("name the state(s) that finish an item, or {category: Done}, or {column: NAME}")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> Workflow:
        seen: dict[str, str] = {}
        for role in ("touch", "wait", "blocked", "before", "discarded"):
            for state in getattr(self, role):
                if state in seen:
                    raise ValueError(f"state '{state}' is listed both as {seen[state]} and {role}")
                seen[state] = role
        for state in self.finish:
            if state in seen:
                raise ValueError(f"the finish state '{state}' cannot also be {seen[state]}")
        if self.start in self.discarded:
            raise ValueError(f"the start state '{self.start}' cannot be discarded")
        if self.start is not None and seen.get(self.start) == "before":
            raise ValueError(f"the start state '{self.start}' cannot be listed as before the stream")
        return self

    @property
    def needs_states(self) -> bool:
        """Whether a boundary is named by category or column, so the workspace must say which states."""
        return self.start_by is not None or self.finish_by is not None

    def resolve(self, known: Sequence[KnownState]) -> Workflow:
        """This workflow with its category and column boundaries turned into states.

        ``start: {category: C}`` or ``{column: K}``: the stream starts at the first entry into a
        state of C (of the columns K), and states of the categories before C (of the columns left
        of K) are before the stream. ``finish``: the states of that category (of those columns)
        finish an item. States the file lists in a role keep it (a Done-category status listed as
        discarded stays discarded). Raises :class:`InputError` in one line when the workspace does
        not know categories or columns, or the column is not on the board.
        """
        if not self.needs_states:
            return self
        listed = {s for role in ("touch", "wait", "blocked", "before", "discarded") for s in getattr(self, role)}
        finish = list(self.finish)
        if self.finish_by is not None:
            at, _ = self.finish_by.split(known, "workflow.finish")
            finish = [s for s in at if s not in listed]
            if not finish:
                raise InputError(f"workflow.finish: every state of {self.finish_by.describe()} is listed in another role")
        start, before = self.start, list(self.before)
        if self.start_by is not None:
            at, earlier = self.start_by.split(known, "workflow.start")
            entry = [s for s in at if s not in listed and s not in finish] or at
            start = entry[0]
            before += [s for s in earlier if s not in listed and s not in finish and s not in before]
        data = self.model_dump(exclude={"start_by", "finish_by"}) | {"start": start, "finish": finish, "before": before}
        data.pop("start_by", None)
        data.pop("finish_by", None)
        try:
            return Workflow.model_validate(data)
        except ValidationError as exc:
            raise InputError(f"workflow: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None

    @property
    def throughput_only(self) -> bool:
        """Start and finish are the same state: a file of one finish date per item (lead time 0)."""
        return self.start in self.finish

    def role_of(self, state: str) -> str:
        """The role of a raw state: touch, wait, blocked, before, finish, discarded or unmapped
        (counted as wait)."""
        if state in self.finish:
            return "finish"
        for role in ("touch", "wait", "blocked", "before", "discarded"):
            if state in getattr(self, role):
                return role
        return "wait" if state == self.start else "unmapped"


HOLIDAY_CODE = re.compile(r"^([A-Z]{2,3})(?:-([A-Z0-9]{1,4}))?$")
"""A holidays-package code: a country (ISO 3166, GB), optionally with a subdivision (GB-ENG, US-CA)."""


class Calendar(_Model):
    """How days are counted in every duration: calendar or working days, elapsed or inclusive.

    ``days: working`` skips weekends and holidays; ``counting: inclusive`` counts whole days with
    the start and the end day both counted (same day = 1), as ActionableAgile and spreadsheets do.
    ``holidays``: dates, files of dates (one a line, relative to the stream file) and codes of the
    holidays package (``GB-ENG``, ``US``, ``DE-BY``), in one list or alone.
    """

    days: Literal["calendar", "working"] = "calendar"
    counting: Literal["elapsed", "inclusive"] = "elapsed"
    holidays: tuple[dt.date | str, ...] = ()
    weekend: tuple[int, ...] = (6, 7)
    """The days of the week that never count under working days, as ISO numbers (1 = Monday,
    7 = Sunday); the file may give names (``[fri, sat]``) or numbers (``[5, 6]``)."""

    @model_validator(mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("holidays"), str | dt.date):
            value = {**value, "holidays": [value["holidays"]]}
        if isinstance(value, dict) and "weekend" in value:
            value = {**value, "weekend": _weekdays(value["weekend"])}
        return value

    @field_serializer("weekend")
    def _weekend_names(self, weekend: tuple[int, ...]) -> list[str]:
        return [WEEKDAYS[n - 1] for n in weekend]

    @model_validator(mode="after")
    def _working_only(self) -> Calendar:
        if self.weekend != (6, 7) and self.days != "working":
            raise ValueError("the weekend is skipped only when counting working days: add days: working")
        if len(self.weekend) == 7:
            raise ValueError("weekend: every day of the week leaves no working day")
        if self.holidays and self.days != "working":
            raise ValueError("holidays are skipped only when counting working days: add days: working")
        for entry in self.holidays:
            if isinstance(entry, str) and HOLIDAY_CODE.match(entry):
                _holiday_table(entry, 2000)  # an unknown code fails here, with the file's line
        return self

    @property
    def is_default(self) -> bool:
        return self.days == "calendar" and self.counting == "elapsed"

    def describe(self) -> str:
        """The convention in force, in words (every output that shows durations says it)."""
        off = "weekends" if self.weekend == (6, 7) else "weekend " + ", ".join(WEEKDAYS[n - 1].title() for n in self.weekend)
        unit = f"working days ({off} and holidays skipped)" if self.days == "working" else "calendar days"
        how = (
            "counted inclusively (start and end day both count, same day = 1)"
            if self.counting == "inclusive"
            else "elapsed (fractional)"
        )
        return f"{unit}, {how}"

    def counted(self, days: Any) -> Any:
        """Whether each of ``days`` (dates) counts: every day, or working days only."""
        import numpy as np

        days = list(days)
        if self.days != "working" or not days:
            return np.ones(len(days), dtype=bool)
        holidays = set(self.holiday_dates(min(days).year, max(days).year))
        return np.array([d.isoweekday() not in self.weekend and d not in holidays for d in days], dtype=bool)

    def nth_day(self, start: dt.date, n: int) -> dt.date:
        """The ``n``-th counted day from ``start`` on (``start`` is the first when it counts)."""
        if self.days != "working":
            return start + dt.timedelta(days=n - 1)
        # A week holds 7 - len(weekend) working days; holidays take a little more.
        span = [start + dt.timedelta(days=k) for k in range(7 * n // (7 - len(self.weekend)) + 7 + 21)]
        counted = [d for d, keep in zip(span, self.counted(span), strict=True) if keep]
        return counted[n - 1]

    def holiday_dates(self, first_year: int, last_year: int) -> list[dt.date]:
        """Every holiday in the years given: the dates listed, read from files, and from codes."""
        found: set[dt.date] = set()
        for entry in self.holidays:
            if isinstance(entry, dt.date):
                found.add(entry)
            elif HOLIDAY_CODE.match(entry):
                for year in range(first_year, last_year + 1):
                    found.update(_holiday_table(entry, year))
            else:
                raise ValueError(f"holidays: '{entry}' is neither a date nor a holidays code (the file was not read)")
        return sorted(found)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NUMBERS = {
    name: n
    for n, day in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), 1)
    for name in (day, day[:3])
}


def _weekdays(value: Any) -> Any:
    """Days of the week as sorted ISO numbers (1 = Monday): from names (``fri``, ``Friday``) or
    numbers 1 to 7; anything else fails with what is expected."""
    given = [value] if isinstance(value, str | int) else value
    if not isinstance(given, list | tuple):
        return value  # pydantic says it is not a list
    days = set()
    for entry in given:
        number = _DAY_NUMBERS.get(entry.strip().lower()) if isinstance(entry, str) else entry
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 7:
            raise ValueError(f"weekend: '{entry}' is not a day of the week: expected names (fri, sat) or numbers 1 (Monday) to 7 (Sunday)")
        days.add(number)
    return tuple(sorted(days))


def _holiday_table(code: str, year: int) -> list[dt.date]:
    import holidays

    match = HOLIDAY_CODE.match(code)
    assert match is not None
    country, subdiv = match.groups()
    try:
        table = holidays.country_holidays(country, subdiv=subdiv, years=year)
    except NotImplementedError:
        raise ValueError(f"holidays: no holiday table for the country '{country}' (a code like GB-ENG, US or DE-BY)") from None
    except Exception:  # the package says an unknown subdivision with its own exception types
        raise ValueError(f"holidays: '{code}' is not a known subdivision of {country} (a code like GB-ENG)") from None
    return sorted(table.keys())


def read_holiday_file(path: Path, base: Path) -> list[dt.date]:
    """Dates in a file, one a line (YYYY-MM-DD first on the line; blank lines and # comments skipped)."""
    where = path if path.is_absolute() else base / path
    try:
        lines = where.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"holidays: cannot read the file {where}: {exc.strerror}") from None
    dates = []
    for n, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip().split(",")[0].strip()
        if not text:
            continue
        try:
            dates.append(dt.date.fromisoformat(text[:10]))
        except ValueError:
            raise ValueError(f"holidays: {where}, line {n}: expected a date as YYYY-MM-DD, got '{text}'") from None
    return dates


class CostOfDelay(_Model):
    """Money lost per week an item is late: one figure, or one per item type or class of service."""

    currency: str = "EUR"
    per_week: float | None = Field(default=None, ge=0)
    by_type: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _some_figure(self) -> CostOfDelay:
        if self.per_week is None and not self.by_type:
            raise ValueError("give per_week, or by_type with a figure per item type")
        if any(v < 0 for v in self.by_type.values()):
            raise ValueError("cost of delay cannot be negative")
        return self

    def for_type(self, item_type: str | None) -> float:
        if item_type is not None and item_type in self.by_type:
            return self.by_type[item_type]
        return self.per_week if self.per_week is not None else 0.0


class PolicyEvent(_Model):
    """A change the team made, named on the day it was made."""

    date: dt.date
    title: str = Field(min_length=1)
    kind: str = "policy"
    new_period: bool = True
    """Whether process behavior charts start new limits on this day."""


class ImportSettings(_Model):
    """How an event-log file's columns and times are read (command options override these)."""

    columns: dict[Literal["item", "state", "entered_at", "title", "type"], str] = Field(default_factory=dict)
    timezone: str = "UTC"
    time_format: str = "auto"


class Baseline(_Model):
    """The period of routine operation that process behavior charts take their first limits from."""

    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Baseline:
        if self.end < self.start:
            raise ValueError(f"the baseline ends ({self.end}) before it starts ({self.start})")
        return self


class Scope(_Model):
    """Where the stream starts and finishes: step names, or plain words ("measurable adoption")."""

    start: str | None = None
    finish: str | None = None


class Stream(_Model):
    """The whole stream file: the map on the wall and how tracker data maps onto it."""

    name: str = "Value stream"
    product: str | None = None
    scope: Scope = Field(default_factory=Scope)
    steps: tuple[Step, ...] = ()
    rework: tuple[ReworkLoop, ...] = ()
    workflow: Workflow | None = None
    cost_of_delay: CostOfDelay | None = None
    events: tuple[PolicyEvent, ...] = ()
    baseline: Baseline | None = None
    """Default: the first 20 values of each period (DESIGN.md)."""
    source: ImportSettings = Field(default_factory=ImportSettings, alias="import")
    calendar: Calendar = Field(default_factory=Calendar)
    """How days are counted in every duration (default: elapsed calendar days)."""

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def step_of_state(self) -> dict[str, str]:
        """Raw tracker state -> the step it belongs to, for steps that list states."""
        return {state: step.name for step in self.steps for state in step.states}

    def to_yaml(self) -> str:
        data = json.loads(self.model_dump_json(by_alias=True, exclude_defaults=True))
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _cross_checks(stream: Stream) -> list[tuple[tuple[Any, ...], str]]:
    """Checks that span fields; each problem comes with the path of the field it is about."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    names: dict[str, int] = {}
    owner_of_state: dict[str, str] = {}
    for i, step in enumerate(stream.steps):
        if step.name in names:
            problems.append((("steps", i, "name"), f"duplicate step name '{step.name}' (also step {names[step.name] + 1})"))
        names.setdefault(step.name, i)
        for j, state in enumerate(step.states):
            if state in owner_of_state:
                problems.append((("steps", i, "states", j), f"state '{state}' already belongs to step '{owner_of_state[state]}'"))
            owner_of_state.setdefault(state, step.name)
    for i, loop in enumerate(stream.rework):
        for key, name in (("from", loop.from_step), ("to", loop.to_step)):
            if name not in names:
                problems.append((("rework", i, key), f"rework loop names step '{name}', which is not in steps"))
        if loop.from_step in names and loop.to_step in names and names[loop.to_step] > names[loop.from_step]:
            problems.append((("rework", i, "to"), f"rework goes back: '{loop.to_step}' must come before '{loop.from_step}'"))
    leaving: dict[str, float] = {}
    for i, loop in enumerate(stream.rework):
        leaving[loop.from_step] = leaving.get(loop.from_step, 0.0) + loop.share
        if leaving[loop.from_step] >= 1:
            problems.append((("rework", i, "share"), f"rework shares leaving '{loop.from_step}' add up to {leaving[loop.from_step]:.0%}; they must stay below 100% or no item ever leaves"))
    if stream.scope.start in names and stream.scope.finish in names and names[stream.scope.finish] < names[stream.scope.start]:
        problems.append((("scope", "finish"), f"the finish '{stream.scope.finish}' comes before the start '{stream.scope.start}'"))
    wf = stream.workflow
    for finish in wf.finish if wf is not None else ():
        assert wf is not None
        if (
            wf.start in owner_of_state
            and finish in owner_of_state
            and names[owner_of_state[finish]] < names[owner_of_state[wf.start]]
        ):
            problems.append((("workflow", "finish"), f"the finish state '{finish}' belongs to a step before the start state '{wf.start}'"))
    return problems


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc``, or of its nearest existing parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if match is None:
                match = next((k for k, _ in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            match = node.value[key]
        else:
            match = None
        if match is None:
            break
        node = match
        line = node.start_mark.line + 1
    return line


_ALIASES = {"from_step": "from", "to_step": "to", "source": "import", "start_by": "start", "finish_by": "finish"}


def parse_stream(text: str, file: str | Path = "<stream>") -> Stream:
    """Validate stream-file text; raise :class:`StreamFileError` listing every problem with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise StreamFileError(file, [(mark.line + 1 if mark else None, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    except ValueError as exc:  # a scalar YAML reads as a date that does not exist (2026-13-45)
        raise StreamFileError(file, [_impossible_date(root, exc)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise StreamFileError(file, [(1, "expected a mapping with keys such as steps, workflow, rework")])
    try:
        stream = Stream.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(_ALIASES.get(k, k) if isinstance(k, str) else k for k in err["loc"])
            field = ".".join(str(k) for k in loc) or "file"
            problems.append((_line_of(root, loc), f"{field}: {err['msg']}"))
        raise StreamFileError(file, problems) from None
    cross = _cross_checks(stream)
    if cross:
        raise StreamFileError(file, [(_line_of(root, loc), msg) for loc, msg in cross])
    return _with_holiday_files(stream, root, file)


def _with_holiday_files(stream: Stream, root: yaml.Node | None, file: str | Path) -> Stream:
    """The stream with each holidays file named in its calendar replaced by the dates it holds."""
    entries = stream.calendar.holidays
    if not any(isinstance(e, str) and not HOLIDAY_CODE.match(e) for e in entries):
        return stream
    base = Path(file).parent if str(file) != "<stream>" else Path.cwd()
    resolved: list[dt.date | str] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str) and not HOLIDAY_CODE.match(entry):
            try:
                resolved.extend(read_holiday_file(Path(entry), base))
            except ValueError as exc:
                raise StreamFileError(file, [(_line_of(root, ("calendar", "holidays", i)), f"calendar.{exc}")]) from None
        else:
            resolved.append(entry)
    calendar = stream.calendar.model_copy(update={"holidays": tuple(resolved)})
    return stream.model_copy(update={"calendar": calendar})


def _impossible_date(root: yaml.Node | None, exc: ValueError) -> tuple[int | None, str]:
    """The line of the first timestamp-looking scalar that is no real date, and why."""
    stack = [root] if root is not None else []
    constructor = yaml.SafeLoader("")
    while stack:
        node = stack.pop(0)
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
            try:
                constructor.construct_yaml_timestamp(node)
            except ValueError as bad:
                return node.start_mark.line + 1, f"'{node.value}' is not a date ({bad}); write it as YYYY-MM-DD"
        elif isinstance(node, yaml.MappingNode):
            stack.extend(v for pair in node.value for v in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None, f"not a valid value: {exc}"


def load_stream(path: str | Path) -> Stream:
    """Read and validate a stream file."""
    path = Path(path)
    if path.is_dir():
        raise StreamFileError(path, [(None, "this is a folder; name the stream file (stream.yaml)")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StreamFileError(path, [(None, f"cannot read the stream file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problem = f"byte {exc.start:,} (0x{raw[exc.start]:02x}) is not UTF-8; save the stream file as UTF-8"
        raise StreamFileError(path, [(line, problem)]) from None
    return parse_stream(text, path)
