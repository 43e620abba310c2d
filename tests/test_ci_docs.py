"""The CI and cron examples in docs/ci work as pasted: their evalctl command lines are
extracted from the files and run (by the installed `evalctl` entry point, through a shell)
against the sample story, with only the store, config and folder paths substituted."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.helpers import REPO, STORY_CONFIG

DOCS = REPO / "docs" / "ci"


@pytest.fixture
def sandbox(story, tmp_path: Path) -> dict[str, str]:
    """A copy of the story's store, and the environment a CI job would have."""
    store = tmp_path / "evalstore"
    shutil.copytree(story.store, store)
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "EVALCTL_CONFIG": str(STORY_CONFIG), "EVALCTL_STORE": str(store),
            "CANDIDATE": "v2", "CANDIDATE_PREDICTIONS": str(story.data / "validation_v2.parquet"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "COLUMNS": "100"}


def shell(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-c", command], env=env, cwd=cwd, text=True,
                          capture_output=True, timeout=600)


def job_env(declared: dict[str, str], sandbox: dict[str, str]) -> dict[str, str]:
    """The job's own variables, but the sandbox's paths and version where it sets them."""
    return {**{k: str(v) for k, v in declared.items()}, **sandbox}


def evalctl_lines(commands: list[str]) -> list[str]:
    """The evalctl invocations, without a trailing `|| …` fallback."""
    return [c.split(" || ")[0].strip() for c in commands if c.strip().startswith("evalctl ")]


def check_gates(lines: list[str], env: dict[str, str], cwd: Path) -> dict[str, int]:
    codes = {}
    for line in lines:
        done = shell(line, env, cwd)
        codes[line.split()[1]] = done.returncode
        assert done.returncode in (0, 1), (line, done.stderr)
    # the candidate is already in the store: the ingest is a no-op; v2 regresses country=BR
    assert codes == {"ingest": 0, "skew": codes["skew"], "validate": 1}
    assert (cwd / "skew.md").read_text().startswith("#")
    assert "country=BR" in (cwd / "validate.md").read_text()
    return codes


def test_github_actions_workflow(sandbox: dict[str, str], tmp_path: Path) -> None:
    workflow = yaml.safe_load((DOCS / "github-actions.yml").read_text())
    job = workflow["jobs"]["evalctl-gate"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    env = job_env(job["env"], sandbox)
    check_gates(evalctl_lines(runs), env, tmp_path)
    summary = next(r for r in runs if "GITHUB_STEP_SUMMARY" in r)
    assert shell(summary, env, tmp_path).returncode == 0
    text = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert text == (tmp_path / "skew.md").read_text() + (tmp_path / "validate.md").read_text()
    gated = [s for s in job["steps"] if "evalctl validate" in s.get("run", "")]
    assert gated[0]["if"] == "!cancelled()"  # runs even when the skew gate failed


def test_gitlab_ci_job(sandbox: dict[str, str], tmp_path: Path) -> None:
    job = yaml.safe_load((DOCS / "gitlab-ci.yml").read_text())["model-gate"]
    env = job_env(job["variables"], sandbox)
    codes = check_gates(evalctl_lines(job["script"]), env, tmp_path)
    # the whole script after the install, as GitLab runs it: fails because a gate failed
    script = "\n".join(line for line in job["script"] if not line.startswith("pip "))
    (tmp_path / "skew.md").unlink()
    done = shell(script, env, tmp_path)
    assert done.returncode == 1 and "validate gate failed" in done.stdout
    assert ("skew gate failed" in done.stdout) == (codes["skew"] == 1)
    assert (tmp_path / "skew.md").is_file()  # written again by the script


def test_crontab_line(sandbox: dict[str, str], tmp_path: Path) -> None:
    lines = [line for line in (DOCS / "crontab").read_text().splitlines()
             if line and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert fields[:5] == ["15", "6", "*", "*", "*"]
    project = tmp_path / "srv" / "models"
    (project / "configs").mkdir(parents=True)
    config = STORY_CONFIG.read_text().replace("store: ../demo_store",
                                              f"store: {sandbox['EVALCTL_STORE']}")
    (project / "configs" / "evalctl.yaml").write_text(config)
    (tmp_path / "env").write_text("export SLACK_WEBHOOK_URL=unused\n")
    command = (fields[5].replace("\\%", "%")  # cron's escaping
               .replace("/etc/evalctl/env", str(tmp_path / "env"))
               .replace("/srv/models", str(project))
               .replace("/var/lib/node_exporter/textfile_collector", str(tmp_path / "prom"))
               .replace("/var/log/evalctl", str(tmp_path / "log")))
    (tmp_path / "prom").mkdir()
    env = {k: v for k, v in sandbox.items() if k not in ("EVALCTL_CONFIG", "EVALCTL_STORE")}
    done = shell(command, env, tmp_path)
    # yesterday, by the machine's clock, has no story data: the volume check fails (exit 1)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(next((tmp_path / "log").glob("monitor-*.json")).read_text())
    assert report["command"] == "monitor" and re.match(
        r"monitor-\d{4}-\d{2}-\d{2}\.json$", next((tmp_path / "log").iterdir()).name)
    families = list(text_string_to_metric_families((tmp_path / "prom" / "evalctl.prom")
                                                   .read_text()))
    assert any(f.name == "evalctl_model_status" for f in families)
