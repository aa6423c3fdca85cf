"""README's "Configuration" table agrees with the code: every variable the app reads is listed,
every listed variable is read, and the documented defaults are the real ones.

Which variables `load_settings()` reads is recorded (hitl.serving.config gets a stand-in `os` whose
environ logs every lookup), and which Settings attribute each one sets is found by setting it
and looking at what changed: nothing here repeats the code's list of names or defaults.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import tempfile
from pathlib import Path

from hitl.serving import config

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("HITL_", "OPENAI_")
LITERAL = re.compile(r"^`([^`]*)`$")  # a default that is one value in backticks
CONDITIONAL = re.compile(r"^`([^`]*)` when `(\w+)=([^`]*)`, else `([^`]*)`$")
NO_DEFAULT = "—"
# Values tried in turn to make a variable change a setting: a number (for ints, floats and
# strings), then flag values, then the only values a closed choice such as HITL_API_STYLE or
# HITL_LOG_LEVEL allows, then URLs (settings are checked: a URL setting takes nothing else).
PROBES = ("4243", "1", "0", "images", "responses", "debug", "http://127.0.0.1:4243/v1", "redis://127.0.0.1:4243")


# -- the README table ---------------------------------------------------------------------
def readme_table() -> dict[str, str]:
    """`| \\`NAME\\` | default | meaning |` rows of the "## Configuration" section: name -> default."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Configuration\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, 'README.md has no "## Configuration" section'
    rows: dict[str, str] = {}
    for line in match.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3:
            continue
        name = LITERAL.match(cells[0])
        if name:  # skips the header and the --- row
            assert name.group(1) not in rows, f"{name.group(1)} is listed twice in README's table"
            rows[name.group(1)] = cells[1]
    assert rows, "README's Configuration table has no rows"
    return rows


def table_text() -> str:
    return " ".join(f"{name} {default}" for name, default in readme_table().items())


# -- what the code reads ------------------------------------------------------------------
class RecordingEnviron(dict):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str] | None = None):
        super().__init__(values or {})
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


class FakeOs:
    """`os` for hitl.serving.config, with `environ` (and `getenv`) replaced; everything else is real."""

    def __init__(self, environ: RecordingEnviron):
        self.environ = environ

    def getenv(self, key, default=None):
        return self.environ.get(key, default)

    def __getattr__(self, name):
        return getattr(os, name)


def load_with(monkeypatch, values: dict[str, str] | None = None) -> tuple[config.Settings, set[str]]:
    """load_settings() on exactly these variables (nothing from the real environment)."""
    environ = RecordingEnviron(values)
    with monkeypatch.context() as patch:
        patch.setattr(config, "os", FakeOs(environ))
        settings = config.load_settings()
    return settings, environ.read


def config_reads(monkeypatch) -> set[str]:
    _, recorded = load_with(monkeypatch)
    assert recorded, "load_settings() read no variable through os.environ: update this test's recording"
    source = (ROOT / "hitl" / "serving" / "config.py").read_text(encoding="utf-8")
    literals = set(re.findall(r"""["']((?:HITL|OPENAI)_[A-Z0-9_]+)["']""", source))
    return recorded | literals


def app_reads() -> dict[str, object]:
    """HITL_*/OPENAI_* names app.py reads with os.environ.get / os.getenv: name -> default literal."""
    found: dict[str, object] = {}
    for node in ast.walk(ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
            continue
        owner = ast.unparse(node.func.value)
        if (owner, node.func.attr) not in {("os.environ", "get"), ("environ", "get"), ("os", "getenv")}:
            continue
        name = node.args[0]
        if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value.startswith(PREFIXES):
            default = node.args[1] if len(node.args) > 1 else None
            found[name.value] = default.value if isinstance(default, ast.Constant) else None
    return found


@functools.cache
def file_probe() -> str:
    """A value for variables that name a file: a small, valid price table unlike the shipped one."""
    path = Path(tempfile.mkdtemp(prefix="hitl-docs-")) / "prices.json"
    table = {"models": {"probe-model": {"input": 1.0, "cached_input": 0.1, "output": 2.0}}}
    path.write_text(json.dumps(table), encoding="utf-8")
    return str(path)


def attribute_for(monkeypatch, name: str, defaults: config.Settings) -> str:
    """The one Settings attribute that setting `name` changes."""
    for probe in (*PROBES, file_probe()):
        try:
            settings, _ = load_with(monkeypatch, {name: probe})
        except (ValueError, OSError):  # config.SettingError is a ValueError
            continue
        changed = [key for key, value in settings.__dict__.items() if value != getattr(defaults, key)]
        assert len(changed) <= 1, f"{name}={probe} changes several settings: {changed}"
        if changed:
            return changed[0]
    raise AssertionError(f"setting {name} to any of {PROBES} changes no Settings attribute")


def matches(documented: str, actual: object) -> bool:
    """A default written as one backticked value against the attribute's real value."""
    if isinstance(actual, bool):
        return documented in {"0", "1"} and actual == (documented == "1")
    if isinstance(actual, (int, float)):
        try:
            return float(documented) == actual
        except ValueError:
            return False
    return documented == str(actual)


# -- tests --------------------------------------------------------------------------------
def test_every_variable_the_app_reads_is_documented(monkeypatch):
    rows, text = readme_table(), table_text()
    read = config_reads(monkeypatch) | set(app_reads())
    # A platform variable such as SYSTEM need not be a row of its own, but the table must say where it matters.
    missing = sorted(name for name in read if name not in rows and not re.search(rf"\b{name}\b", text))
    assert not missing, f"read by the app but not in README's Configuration table: {missing}"


def test_every_documented_variable_is_read(monkeypatch):
    read = config_reads(monkeypatch) | set(app_reads())
    unread = sorted(name for name in readme_table() if name.startswith(PREFIXES) and name not in read)
    assert not unread, f"in README's Configuration table but read by neither config.py nor app.py: {unread}"


def test_documented_defaults_are_the_settings_defaults(monkeypatch):
    defaults, _ = load_with(monkeypatch)
    read = config_reads(monkeypatch)
    wrong = []
    for name, documented in readme_table().items():
        if name not in read:
            continue
        attribute = attribute_for(monkeypatch, name, defaults)
        actual = getattr(defaults, attribute)
        literal, conditional = LITERAL.match(documented), CONDITIONAL.match(documented)
        if literal:
            ok = matches(literal.group(1), actual)
        elif conditional:
            when, other, value, otherwise = conditional.groups()
            with_other, _ = load_with(monkeypatch, {other: value})
            ok = matches(when, getattr(with_other, attribute)) and matches(otherwise, actual)
            actual = f"{getattr(with_other, attribute)!r} with {other}={value}, else {actual!r}"
        elif documented == NO_DEFAULT:
            ok = actual is None
        else:  # prose ("OpenAI"): documented, nothing to compare
            continue
        if not ok:
            wrong.append(f"{name}: README says {documented}, Settings.{attribute} is {actual!r}")
    assert not wrong, "README's Configuration table disagrees with load_settings():\n" + "\n".join(wrong)


# -- the scaling example (docs/deploy): no Docker here, so its wiring is checked as text ------------
DEPLOY = ROOT / "docs" / "deploy"


def test_the_compose_example_is_wired_consistently():
    import yaml

    from hitl.serving.shared_counters import RedisCounters, connect

    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))["services"]
    app, proxy, redis = services["app"], services["proxy"], services["redis"]
    env = app["environment"]
    documented = {name for name in env if name.startswith(PREFIXES)}
    assert documented <= set(readme_table()), f"not in README's table: {documented - set(readme_table())}"
    assert RedisCounters(connect(env["HITL_REDIS_URL"]), 1, 60.0).where == "redis:6379"
    assert env["HITL_PROXY_HOPS"] == "1"  # nginx, and only nginx, in front
    assert env["GRADIO_SERVER_NAME"] == "0.0.0.0"  # reachable by nginx, and so limited (app.py)
    assert app["deploy"]["replicas"] >= 2 and "redis" in app["depends_on"] and "app" in proxy["depends_on"]
    assert "ports" not in app and "ports" not in redis  # only the proxy is published

    mount = next(volume for volume in proxy["volumes"] if volume.startswith("./"))
    source, target = mount.split(":")[:2]
    assert target.startswith("/etc/nginx/conf.d/")
    conf = (DEPLOY / source).read_text(encoding="utf-8")
    (published,) = proxy["ports"]
    assert re.search(rf"^\s*listen\s+{published.split(':')[1]};", conf, re.M)
    assert re.search(rf"^\s*server\s+app:{env['GRADIO_SERVER_PORT']};", conf, re.M)
    assert re.search(r"^\s*hash\s+\$\w+\s+consistent;", conf, re.M)  # sticky
    assert re.search(r"^\s*proxy_buffering\s+off;", conf, re.M)  # Gradio's event streams flow
    assert "$proxy_add_x_forwarded_for" in conf

    context = (DEPLOY / app["build"]["context"]).resolve()
    dockerfile = (context / app["build"]["dockerfile"]).read_text(encoding="utf-8")
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            assert (context / line.split()[1]).exists(), line
    assert 'CMD ["python", "app.py"]' in dockerfile
    assert (context / "app.py").exists()


def test_the_readme_links_the_scaling_guide():
    assert "(docs/scaling.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    guide = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    assert "docs/deploy/" in guide and "When a replica dies" in guide


# -- docs/security.md: every defence names a test, and every test it names exists -----------------
def test_every_test_security_md_names_exists():
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/\w+\.py)::(\w+)`", text))
    assert len(named) >= 30, "security.md names too few tests"
    missing = [f"{path}::{name}" for path, name in sorted(named)
               if not re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)]
    assert not missing, f"security.md names tests that do not exist: {missing}"
    rows = [line for line in text.splitlines()
            if line.startswith("| ") and not line.startswith(("| ---", "| defended"))]
    assert all("`tests/" in row for row in rows), [row for row in rows if "`tests/" not in row]
