"""The request bodies the HTTP API accepts: validated before anything touches the map.

Each model refuses unknown fields, bounds every text and number, and says in its description what
the board does with it. The map's own rules (unique step names, rework that goes back, ...) are
checked afterwards by the stream file's validation, with the same messages as the CLI.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from valuestream.model import StepKind

Days = Annotated[float, Field(ge=0, le=3650, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=120, pattern=r"\S")]
Text = Annotated[str, Field(max_length=2000)]
Version = Annotated[int, Field(ge=0, le=2_000_000_000, description="The map version this edit was made on.")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Observed(_Body):
    observed: list[Days] = Field(min_length=1, max_length=100, description="Days of recent items, one by one.")


Estimate = Annotated[
    Days | Annotated[list[Days], Field(min_length=2, max_length=2)] | Observed,
    Field(description="Days per item: a number, a [low, high] range, or {observed: [...]}."),
]


class StepIn(_Body):
    """One sticky note column: a step with its touch and wait."""

    name: Name
    kind: StepKind = StepKind.work
    owner: Annotated[str, Field(max_length=120)] | None = None
    states: list[Name] = Field(default_factory=list, max_length=50)
    touch_days: Estimate | None = None
    wait_days: Estimate | None = None
    batch_every_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)] | None = None
    capacity: Annotated[int, Field(ge=1, le=10_000)] | None = None
    visits: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = None
    entry: Text | None = None
    exit: Text | None = None
    notes: Text | None = None

    def file_form(self) -> dict[str, object]:
        data = self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        data["name"] = self.name
        if self.kind is not StepKind.work:
            data["kind"] = self.kind.value
        return data


class StepAdd(_Body):
    base_version: Version
    step: StepIn
    at: Annotated[int, Field(ge=0, le=10_000)] | None = None


class StepUpdate(_Body):
    base_version: Version
    step: StepIn


class StepMove(_Body):
    base_version: Version
    to: Annotated[int, Field(ge=0, le=10_000, description="The step's new place, from 0.")]


class ScopeIn(_Body):
    base_version: Version
    start: Name | None = None
    finish: Name | None = None


class HeaderIn(_Body):
    base_version: Version
    name: Name
    product: Annotated[str, Field(max_length=120)] | None = None


class LoopIn(_Body):
    from_step: Name = Field(alias="from")
    to_step: Name = Field(alias="to")
    share: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]


class ReworkIn(_Body):
    base_version: Version
    loops: list[LoopIn] = Field(max_length=100)


class WorkflowBody(_Body):
    start: Name
    finish: Name
    touch: list[Name] = Field(default_factory=list, max_length=200)
    wait: list[Name] = Field(default_factory=list, max_length=200)
    blocked: list[Name] = Field(default_factory=list, max_length=200)
    before: list[Name] = Field(default_factory=list, max_length=200)


class WorkflowIn(_Body):
    base_version: Version
    workflow: WorkflowBody | None = Field(description="How tracker states map onto the stream; null removes it.")


class YamlIn(_Body):
    base_version: Version
    yaml: Annotated[str, Field(max_length=500_000, description="A whole stream file.")]


class TemplateIn(_Body):
    base_version: Version
    name: Annotated[str, Field(max_length=120)]


class BaseOnly(_Body):
    base_version: Version


class EventIn(_Body):
    date: dt.date
    title: Annotated[str, Field(min_length=1, max_length=300, pattern=r"\S")]
    kind: Annotated[str, Field(min_length=1, max_length=40, pattern=r"\S")] = "policy"
    new_period: bool = True


class ChooseIn(_Body):
    change: Annotated[str, Field(min_length=1, max_length=300, pattern=r"\S")]
    date: dt.date | None = Field(default=None, description="The day the change starts (default: today).")


class BaselinesIn(_Body):
    date: dt.date | None = None
    throughput_per_week: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)] | None = Field(
        default=None, description="Needed only when no item histories are imported."
    )


class LoginIn(_Body):
    token: Annotated[str, Field(min_length=1, max_length=500)]


__all__ = [
    "BaseOnly", "BaselinesIn", "ChooseIn", "EventIn", "HeaderIn", "LoginIn", "LoopIn", "Observed",
    "ReworkIn", "ScopeIn", "StepAdd", "StepIn", "StepMove", "StepUpdate", "TemplateIn",
    "WorkflowBody", "WorkflowIn", "YamlIn",
]  # fmt: skip
