"""Domain types: the stream (steps, rework loops, workflow, cost of delay, events) and its file form.

A stream file (``stream.yaml``) is validated into a :class:`Stream`. Every problem is reported with
the line of the file it comes from, so a facilitator can fix the wall's transcript in one pass.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_serializer,
    model_validator,
)

from valuestream.errors import StreamFileError


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


class Workflow(_Model):
    """How raw tracker states map onto the stream: where it starts and finishes, touch and wait."""

    start: str
    finish: str
    touch: tuple[str, ...] = ()
    wait: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    """States an item can be in before it enters the stream (an idea funnel, say)."""

    @model_validator(mode="after")
    def _disjoint(self) -> Workflow:
        seen: dict[str, str] = {}
        for role in ("touch", "wait", "blocked", "before"):
            for state in getattr(self, role):
                if state in seen:
                    raise ValueError(f"state '{state}' is listed both as {seen[state]} and {role}")
                seen[state] = role
        if self.finish in seen:
            raise ValueError(f"the finish state '{self.finish}' cannot also be {seen[self.finish]}")
        if self.start == self.finish:
            raise ValueError("start and finish must be different states")
        if seen.get(self.start) == "before":
            raise ValueError(f"the start state '{self.start}' cannot be listed as before the stream")
        return self

    def role_of(self, state: str) -> str:
        """The role of a raw state: touch, wait, blocked, before, finish or unmapped (counted as wait)."""
        if state == self.finish:
            return "finish"
        for role in ("touch", "wait", "blocked", "before"):
            if state in getattr(self, role):
                return role
        return "wait" if state == self.start else "unmapped"


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
    if (
        wf is not None
        and wf.start in owner_of_state
        and wf.finish in owner_of_state
        and names[owner_of_state[wf.finish]] < names[owner_of_state[wf.start]]
    ):
        problems.append((("workflow", "finish"), f"the finish state '{wf.finish}' belongs to a step before the start state '{wf.start}'"))
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


_ALIASES = {"from_step": "from", "to_step": "to", "source": "import"}


def parse_stream(text: str, file: str | Path = "<stream>") -> Stream:
    """Validate stream-file text; raise :class:`StreamFileError` listing every problem with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise StreamFileError(file, [(mark.line + 1 if mark else None, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
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
    return stream


def load_stream(path: str | Path) -> Stream:
    """Read and validate a stream file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StreamFileError(path, [(None, f"cannot read the stream file: {exc.strerror}")]) from None
    return parse_stream(text, path)
