"""The README's Python API example runs as written, against the sample story."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

from tests.helpers import REPO, STORY_CONFIG


def _example() -> str:
    readme = (REPO / "README.md").read_text()
    found = re.search(r"<!-- python-api-example -->\n```python\n(.*?)```", readme, re.S)
    assert found, "README has no python-api-example block"
    return found.group(1)


def test_the_readme_python_example_runs(story, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "configs").mkdir()
    shutil.copy(STORY_CONFIG, tmp_path / "configs" / "evalctl.yaml")
    config = tmp_path / "configs" / "evalctl.yaml"
    config.write_text(re.sub(r"^store: .*$", f"store: {story.store}", config.read_text(),
                             flags=re.M))
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_example(), "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "fail"
    feature, method, status = lines[1].split()
    assert status == "fail" and method
    assert lines[2].startswith("{")
    assert lines[3].startswith("input error: ") and len(lines) == 4
