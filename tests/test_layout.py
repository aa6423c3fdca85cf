"""The package layout is the architecture (issue 25): no lower layer imports a higher one, and only the
web layer imports Gradio. Read from the source with `ast`, so a new import that breaks the rule fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

HITL = Path(__file__).resolve().parent.parent / "hitl"
# Bottom to top. A layer may import its own modules and those of the layers below it.
LAYERS = ["serving", "backends", "core", "web"]
# Pure modules of the core every layer may use: the stage machine and its types, picture checks.
VOCABULARY = {"hitl.core.stages", "hitl.core.uploads"}
WEB_ONLY = ("gradio", "gradio_client", "fastapi", "starlette", "uvicorn")  # Gradio and the web server under it
ROOT = HITL.parent


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import of {node.module}"
            assert node.module
            found.add(node.module)
            if node.module == "hitl":  # `from hitl import web` imports hitl.web
                found |= {f"hitl.{alias.name}" for alias in node.names}
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


def test_every_module_sits_in_a_layer():
    """No module beside the layers, where the test above would not look: hitl/ holds only __init__.py."""
    assert sorted(p.name for p in HITL.glob("*.py")) == ["__init__.py"]
    assert {p.relative_to(HITL).parts[0] for p in MODULES} == set(LAYERS)


def readme_module_table() -> set[str]:
    """The files README's module table names: a row's paths, and bare file names in it taken as in its folder."""
    named = set()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for row in re.findall(r"^\| (?:\*\*\w+\*\* )?\| `hitl/.*$", readme, re.M):
        folder = ""
        for cell in row.split("|")[2:4]:
            for name in re.findall(r"`([\w/.]+\.(?:py|json)|hitl/[\w/]+/)`", cell):
                if name.startswith("hitl/"):
                    folder = name if name.endswith("/") else name.rsplit("/", 1)[0] + "/"
                named.add(name if name.startswith("hitl/") else folder + name)
    return named


def test_the_readmes_module_table_names_every_module_and_only_real_ones():
    named = readme_module_table()
    files = {p.relative_to(ROOT).as_posix() for p in [*MODULES, *HITL.rglob("*.json")] if p.name != "__init__.py"}
    assert files - named == set(), "modules the README's table does not name"
    assert {name for name in named if not (ROOT / name).exists()} == set(), "named in the README, not there"


def test_the_design_docs_layout_lists_the_layers_bottom_to_top():
    design = (ROOT / "docs/design.md").read_text(encoding="utf-8")
    section = design[design.index("## Layout"):]
    section = section[:section.index("\n## ", 1)]
    assert re.findall(r"^\| `hitl/(\w+)/` \|", section, re.M) == LAYERS


def test_every_project_file_the_docs_name_is_there():
    """After a move, the current docs follow (bench/results.md and CHANGELOG.md are history: they keep old paths)."""
    docs = [ROOT / "README.md", ROOT / "bench/README.md", *sorted((ROOT / "docs").glob("*.md"))]
    named = {(doc.relative_to(ROOT).as_posix(), path) for doc in docs
             for path in re.findall(r"\bhitl/[\w/]+\.(?:py|json|css|js)\b", doc.read_text(encoding="utf-8"))}
    assert sorted((doc, path) for doc, path in named if not (ROOT / path).exists()) == []
