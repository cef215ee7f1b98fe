"""The suite is hermetic: shipped recipes name no absolute path outside the repo, and tests touch
no absolute path outside the repo or their own temp dir, except the hostile-sandbox suite's
markers listed below (paths a sandboxed program must not be able to write or read)."""

import ast

import pytest
import yaml

from tests.conftest import ROOT

FORBIDDEN = ("/tmp", "/root", "/home")

# test file -> absolute paths it may name, and why each is legitimate
ALLOWED = {
    "test_sandbox_hostile.py": {
        "/tmp/grpo_sandbox_escape_marker": "must NOT exist: a hostile program tries to write it",
        "/tmp/grpo_sandbox_daemon_marker": "must NOT exist: an orphaned daemon tries to write it",
        "/root/.grpo_sandbox_secret": "a root-only secret the sandbox must not read; created and removed by the test",
        "/root/.grpo_canary": "a host file the sandbox must not change; created and removed by the test",
    },
    "test_hermetic.py": {path: "the prefixes this test looks for" for path in FORBIDDEN},
}


def absolute_strings(source: str) -> set[str]:
    """String constants (f-string parts included) that start with a forbidden prefix."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for token in node.value.replace("'", " ").replace('"', " ").split():
                if token.startswith(FORBIDDEN):
                    found.add(token.rstrip(",;:)"))
    return found


def yaml_strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in yaml_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in yaml_strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("recipe_file", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_name_no_absolute_paths_outside_the_repo(recipe_file):
    values = yaml_strings(yaml.safe_load(recipe_file.read_text()))
    bad = [v for v in values if v.startswith(FORBIDDEN)]
    assert not bad, f"{recipe_file.name} names {bad}: use a path relative to the repo (runs/... is git-ignored)"


def test_tests_name_no_absolute_paths_but_the_listed_sandbox_markers():
    offenders = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        allowed = ALLOWED.get(path.name, {})
        extra = {s for s in absolute_strings(path.read_text()) if not any(s.startswith(a) for a in allowed)}
        if extra:
            offenders[str(path.relative_to(ROOT))] = sorted(extra)
    assert not offenders, f"tests name absolute paths outside the repo and their tmp_path: {offenders}"


def test_the_scanner_sees_paths_in_plain_and_f_strings():
    source = 'a = "/tmp/x"\nb = f"open(\'/root/y/{z}\')"\nc = "relative/tmp"\n'
    assert absolute_strings(source) == {"/tmp/x", "/root/y/"}
