"""The package layout is the architecture (issue 25): no lower layer imports a higher one, and only the
web layer imports Gradio. Read from the source with `ast`, so a new import that breaks the rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HITL = Path(__file__).resolve().parent.parent / "hitl"
# Bottom to top. A layer may import its own modules and those of the layers below it.
LAYERS = ["serving", "backends", "core", "web"]
# Pure modules of the core every layer may use: the stage machine and its types, picture checks.
VOCABULARY = {"hitl.core.stages", "hitl.core.uploads"}
WEB_ONLY = ("gradio", "gradio_client", "fastapi")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import of {node.module}"
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


MODULES = sorted(p for p in HITL.rglob("*.py") if p.parent != HITL)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(HITL)))
def test_no_lower_layer_imports_a_higher_one(path):
    layer = LAYERS.index(path.relative_to(HITL).parts[0])
    module = "hitl." + ".".join(path.relative_to(HITL).with_suffix("").parts)
    for name in imports(path):
        if name.startswith("hitl.") and name not in VOCABULARY:
            assert LAYERS.index(name.split(".")[1]) <= layer, f"{module} imports {name}, a higher layer"
        if layer < LAYERS.index("web"):
            assert name.split(".")[0] not in WEB_ONLY, f"{module} imports {name}: only hitl/web/ may"


@pytest.mark.parametrize("name", sorted(VOCABULARY))
def test_the_vocabulary_and_the_stage_machine_are_pure(name):
    path = HITL.parent / (name.replace(".", "/") + ".py")
    assert {n for n in imports(path) if n.startswith("hitl")} <= {"hitl.core.stages"}, name
