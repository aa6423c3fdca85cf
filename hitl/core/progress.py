"""What a running action reports before its outcome: the runner yields these, jobs keep the latest."""

from __future__ import annotations

from dataclasses import dataclass

from hitl.core.stages import Candidate


@dataclass(frozen=True)
class Started:
    """The image call has begun (every guard passed): from now on there is something to cancel."""


@dataclass(frozen=True)
class Preview:
    """What image call `slot` (0-based; one per image asked for) has drawn so far; `ready` once it is done."""

    slot: int
    candidate: Candidate
    ready: bool = False
