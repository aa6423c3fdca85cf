"""The system tools some tests need (chromium, redis-server, Node.js, axe-core) and what a missing
one means: on a developer's machine the test is skipped, saying how to install it; in CI (`CI` set,
as GitHub Actions does) it fails, since a skip there would let a run pass without the test (issue 25).
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str) -> NoReturn:
    """Skip the test for a missing tool, or fail it in CI."""
    if in_ci():
        pytest.fail(f"{reason}\n(CI is set: a missing tool fails the test there instead of skipping it)",
                    pytrace=False)
    pytest.skip(reason)


def which(name: str, hint: str) -> str:
    """The path of the command `name`, or `missing` with `hint` (how to install it)."""
    found = shutil.which(name)
    if found is None:
        missing(f"{name} not found: {hint}")
    return found
