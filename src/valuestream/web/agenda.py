"""The 90-minute session's agenda: six phases, one clock the facilitator drives and everyone sees.

Pure state: a clock reading goes in (``now``, seconds), the phase and time left come out. The
server keeps one :class:`Agenda`, changes it on start, pause and next, and broadcasts it; each page
counts the seconds between broadcasts from the elapsed time it was sent, so laptops whose clocks
disagree still show the same minute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Phase:
    """One part of the session: its minutes and what the room does in it."""

    key: str
    title: str
    start: int
    end: int
    prompt: str


PHASES: tuple[Phase, ...] = (
    Phase("scope", "Align scope", 0, 10,
          "Name where the stream starts (the customer opportunity is defined) and where it "
          "finishes (adoption you can measure). One product or slice, written on the board."),
    Phase("outline", "Outline flow", 10, 30,
          "Put up every step from discovery to adoption, in order. Mark each handoff, approval "
          "and release gate, and name who owns each step."),
    Phase("quantify", "Quantify reality", 30, 55,
          "For each step, touch and wait from the last 10 to 20 items: a number, a range or the "
          "observed days. Add the rework loops with their share and the blocked states."),
    Phase("constraint", "Find the constraint", 55, 70,
          "Look for the longest queue, or the step that leaves the next one waiting. The board "
          "circles it; does the room agree?"),
    Phase("experiment", "Choose one experiment", 70, 85,
          "Pick one policy change that shortens one queue, for one week. The ranked candidates "
          "show the days each saves and what a week of it is worth."),
    Phase("measures", "Set measures and cadence", 85, 90,
          "Record the lead time, flow efficiency and throughput baselines, and book a 15-minute "
          "weekly check that reacts to signals, not noise."),
)  # fmt: skip

GUARDRAILS: tuple[str, ...] = (
    "One stream, one queue, one experiment.",
    "Map how work actually happens, not how it should.",
    "Approvals people wait for are part of the stream.",
    "No new reports: one visible map and three flow measures.",
)

TOTAL_SECONDS = PHASES[-1].end * 60


@dataclass(frozen=True)
class Agenda:
    """The session clock: seconds run before the last start, and when it was started (if running)."""

    banked: float = 0.0
    started_at: float | None = None
    speed: float = 1.0
    """Session seconds per real second: 1 in a session, more to rehearse the agenda quickly."""

    @property
    def running(self) -> bool:
        return self.started_at is not None

    def elapsed(self, now: float) -> float:
        run = (now - self.started_at) * self.speed if self.started_at is not None else 0.0
        return min(self.banked + run, float(TOTAL_SECONDS))

    def phase_index(self, now: float) -> int:
        minute = self.elapsed(now) / 60
        for i, phase in enumerate(PHASES):
            if minute < phase.end:
                return i
        return len(PHASES) - 1

    def start(self, now: float) -> Agenda:
        if self.running or self.elapsed(now) >= TOTAL_SECONDS:
            return self
        return replace(self, started_at=now)

    def pause(self, now: float) -> Agenda:
        if not self.running:
            return self
        return replace(self, banked=self.elapsed(now), started_at=None)

    def next(self, now: float) -> Agenda:
        """Jump to the start of the next phase (the end of the session from the last one)."""
        i = self.phase_index(now)
        target = PHASES[i + 1].start * 60 if i + 1 < len(PHASES) else TOTAL_SECONDS
        return replace(self, banked=float(target), started_at=now if self.running else None)

    def reset(self) -> Agenda:
        return Agenda(speed=self.speed)

    def to_dict(self, now: float) -> dict[str, Any]:
        elapsed = self.elapsed(now)
        i = self.phase_index(now)
        phase = PHASES[i]
        return {
            "running": self.running and elapsed < TOTAL_SECONDS,
            "elapsed": elapsed,
            "speed": self.speed,
            "total": TOTAL_SECONDS,
            "finished": elapsed >= TOTAL_SECONDS,
            "phase": i,
            "phase_left": max(phase.end * 60 - elapsed, 0.0),
            "phases": [p.__dict__ for p in PHASES],
            "guardrails": list(GUARDRAILS),
        }

    def to_saved(self, now: float) -> dict[str, Any]:
        """What survives a restart: the clock as paused at ``now`` if it was running."""
        return {"banked": self.elapsed(now), "running": self.running}

    @classmethod
    def from_saved(cls, saved: dict[str, Any], now: float, speed: float = 1.0) -> Agenda:
        banked = float(saved.get("banked", 0.0))
        if not 0 <= banked <= TOTAL_SECONDS:
            banked = 0.0
        return cls(banked=banked, started_at=now if saved.get("running") else None, speed=speed)


__all__ = ["GUARDRAILS", "PHASES", "TOTAL_SECONDS", "Agenda", "Phase"]
