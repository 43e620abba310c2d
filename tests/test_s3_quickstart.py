"""The README's "Object storage quick start" runs as pasted, against the moto fixture (its
server line replaced by the fixture's server, its bucket by a fresh one)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import REPO, STORY_CONFIG
from tests.s3_server import S3Server

pytestmark = pytest.mark.s3


def _block() -> list[str]:
    readme = (REPO / "README.md").read_text()
    found = re.search(r"<!-- s3-quickstart -->\n```bash\n(.*?)```", readme, re.S)
    assert found, "README has no s3-quickstart block"
    return found.group(1).splitlines()


def test_the_readme_s3_quick_start_runs(story, s3_env: S3Server, tmp_path: Path) -> None:
    lines = _block()
    installs = [line for line in lines if "pip install" in line or "moto_server" in line]
    assert len(installs) == 2  # the two lines the fixture stands in for
    bucket = f"evals-{os.urandom(4).hex()}"
    script = "\n".join(line for line in lines if line not in installs)
    script = (script.replace("http://127.0.0.1:5000", s3_env.endpoint)
              .replace("evals", bucket).replace(".venv/bin/", f"{Path(sys.executable).parent}/"))
    (tmp_path / "configs").mkdir()
    shutil.copy(STORY_CONFIG, tmp_path / "configs" / "evalctl.yaml")
    (tmp_path / "sample_data").mkdir()
    (tmp_path / "sample_data" / "generated").symlink_to(story.data)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EVALCTL_"))}
    env |= {"AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"), "COLUMNS": "100"}
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "tv-recommender" in done.stdout
    keys = s3_env.keys(bucket, "lake/")
    assert sum(k.endswith(".parquet") for k in keys) >= 2
    assert not (tmp_path / "s3:").exists()
