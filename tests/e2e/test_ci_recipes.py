"""The CI recipes of examples/ci, run step by step as their platforms would run them.

A team's repository is a bare git repository ("origin") in a temporary folder; a developer
opens two pull (merge) requests from clones of it, the first adding the quickstart as
qplan.yaml, the second, opened on top of the first before it is merged, raising its shots.
Every job of a recipe runs in a fresh clone of origin (the runner's checkout), with
QPLAN_STATE naming one PostgreSQL database that every runner shares, and the local
provider's run journal (QPLAN_LOCAL_JOURNAL) recording what really ran. The scenario:

- each request's plan job passes with changes, keeps qplan.plan and plan.md as artifacts
  and posts plan.md as a comment;
- merging the first applies the plan reviewed on it, pushes qplan.lock to the default
  branch with [skip ci], and `qplan lock --check` passes;
- merging the second fails: its plan was made before the first's apply, so qplan refuses
  it as stale, and nothing runs;
- the second's plan job is run again (re-run on GitHub, retried on GitLab), then the failed
  apply job: it applies the new plan and pushes the updated qplan.lock. No run started
  twice; no secret reached a log, a comment, an artifact or the repository.

What is the recipes' own: every `run:` step (GitHub) and `script:` line (GitLab), run in
order with bash as each platform runs it (`bash --noprofile --norc -eo pipefail` for a
GitHub step of `shell: bash`; one `set -eo pipefail` shell per GitLab job), with the
real qplan, git, curl and python.

What the test plays, being the platform:
- the events: a pull or merge request's pipeline, a merge (a merge commit pushed to the
  default branch, as the merge button makes it; GitHub's `refs/pull/N/merge` test merge for
  a pull request's checkout), the push pipeline it starts, a re-run or a retry. Jobs run one
  at a time, which is what `concurrency:` and `resource_group:` ask for;
- the platform's environment variables (GitHub's `$GITHUB_ENV` file too), `${{ }}`
  expressions and `secrets.*`, the `if:` of GitHub jobs and the `rules:` of GitLab jobs
  (the few forms the recipes use, evaluated);
- the actions: `actions/checkout` (a clone at the event's commit), `actions/setup-python`
  (the Python running this test), `actions/upload-artifact` (files kept per run, replaced
  only with `overwrite: true`); GitLab's checkout, its `image:` (this machine instead) and
  its `artifacts:` (a zip per job);
- the `pip install 'qplan[postgres]'` step: checked to be that command, then skipped, the
  qplan under test being installed already;
- `gh`: an executable on PATH that answers the few calls the recipe makes from the records
  the test keeps (pull requests, workflow runs, artifacts) and records comments;
- GitLab's REST API at `$CI_API_V4_URL`: a small HTTP server on 127.0.0.1 (notes, merge
  requests of a commit, a merge request's pipelines, a pipeline's jobs, a job's artifacts),
  and its git server: the push URL the recipe builds is mapped to origin by git's
  `url.<base>.insteadOf`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ruamel.yaml import YAML

from tests.conftest import EXAMPLES, copy_example
from tests.e2e.processes import TAG, kill_tagged, new_tag

RECIPES = EXAMPLES / "ci"
INSTALLED = Path(sys.executable).parent  # qplan and python, as the install step would leave
INSTALL = "pip install 'qplan[postgres]'"
DEFAULT_BRANCH = "main"


def load(path: Path) -> dict[str, Any]:
    return dict(YAML(typ="safe").load(path.read_text()))


@dataclass
class JobResult:
    name: str
    ok: bool
    log: str


class Git:
    """git with this test's configuration only: no user's or system's settings."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, cwd: Path, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def as_someone(self, cwd: Path, who: str, *args: str) -> str:
        return self(cwd, "-c", f"user.name={who}", "-c", f"user.email={who}@example.com", *args)


@dataclass
class Repository:
    """origin (bare), and the clone the platform makes its merges in."""

    root: Path
    git: Git
    origin: Path = field(init=False)
    platform: Path = field(init=False)

    def __post_init__(self) -> None:
        self.origin = self.root / "server" / "group" / "project.git"
        self.origin.mkdir(parents=True)
        self.git(self.origin, "init", "--bare", "--quiet", "--initial-branch", DEFAULT_BRANCH)
        self.platform = self.root / "platform-clone"
        self.git(self.root, "clone", "--quiet", str(self.origin), str(self.platform))

    def sha(self, ref: str) -> str:
        return self.git(self.origin, "rev-parse", ref)

    def merge(self, branch: str, into: str, message: str, push_to: str) -> str:
        """A merge commit of ``branch`` into ``into`` (as origin has them), pushed to
        ``push_to``; its sha."""
        self.git(self.platform, "fetch", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*")
        self.git(self.platform, "checkout", "--quiet", "--detach", f"origin/{into}")
        self.git.as_someone(
            self.platform,
            "platform",
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            message,
            f"origin/{branch}",
        )
        self.git(self.platform, "push", "--quiet", "--force", "origin", f"HEAD:{push_to}")
        return self.git(self.platform, "rev-parse", "HEAD")

    def checkout(self, workspace: Path, sha: str, branch: str | None = None) -> None:
        """A runner's checkout: a clone of origin at ``sha``, on ``branch`` if given (GitHub's
        checkout of a push), else detached."""
        self.git(self.root, "clone", "--quiet", str(self.origin), str(workspace))
        self.git(workspace, "fetch", "--quiet", "origin", sha)
        if branch:
            self.git(workspace, "checkout", "--quiet", "-B", branch, sha)
        else:
            self.git(workspace, "checkout", "--quiet", "--detach", sha)

    def file_on(self, branch: str, path: str) -> str:
        return self.git(self.origin, "show", f"{branch}:{path}")

    def message(self, ref: str) -> str:
        return self.git(self.origin, "log", "-1", "--format=%B", ref)


class Developer:
    """A developer's clone: branches of the quickstart, pushed to origin."""

    def __init__(self, repo: Repository) -> None:
        self.repo, self.git = repo, repo.git
        self.folder = repo.root / "developer"
        self.git(repo.root, "clone", "--quiet", str(repo.origin), str(self.folder))
        (self.folder / "README.md").write_text("# Experiments\n")
        self.commit(DEFAULT_BRANCH, "Start")

    def commit(self, branch: str, message: str) -> None:
        self.git(self.folder, "checkout", "--quiet", "-B", branch)
        self.git(self.folder, "add", "--all")
        self.git.as_someone(self.folder, "developer", "commit", "--quiet", "-m", message)
        self.git(self.folder, "push", "--quiet", "origin", f"HEAD:{branch}")

    def add_quickstart(self, branch: str) -> None:
        self.git(self.folder, "checkout", "--quiet", "-B", branch, f"origin/{DEFAULT_BRANCH}")
        example = copy_example("quickstart", self.repo.root / "quickstart")
        shutil.copytree(example, self.folder, dirs_exist_ok=True)
        (self.folder / ".gitignore").write_text(".qplan/\n")
        self.commit(branch, "Add the quickstart")

    def raise_shots(self, branch: str, on: str) -> None:
        self.git(self.folder, "checkout", "--quiet", "-B", branch, on)
        manifest = self.folder / "qplan.yaml"
        text, n = re.subn(r"^  shots: 100\b", "  shots: 200", manifest.read_text(), flags=re.M)
        assert n == 1
        manifest.write_text(text)
        self.commit(branch, "200 shots")


def run_bash(
    command: list[str], cwd: Path, env: dict[str, str], log: list[str]
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=180,
        check=False,
    )
    log.append(done.stdout)
    return done


class Platform:
    """What both platforms share: the repository, the runners' base environment, the jobs
    run so far."""

    name = ""

    def __init__(self, root: Path, repo: Repository, runner_env: dict[str, str]) -> None:
        self.root, self.repo, self.runner_env = root, repo, runner_env
        self.jobs: list[JobResult] = []
        self._workspaces = 0

    def workspace(self, job: str) -> Path:
        self._workspaces += 1
        (self.root / "runners").mkdir(exist_ok=True)
        return self.root / "runners" / f"{self._workspaces:02d}-{job}"

    # the scenario's verbs, one implementation per platform
    def open_request(self, branch: str) -> int:
        raise NotImplementedError

    def rerun_plan(self, number: int) -> JobResult:
        raise NotImplementedError

    def merge(self, number: int) -> JobResult:
        raise NotImplementedError

    def rerun_apply(self) -> JobResult:
        raise NotImplementedError

    def comments(self, number: int) -> list[str]:
        raise NotImplementedError

    def plan_artifact(self, number: int) -> dict[str, bytes]:
        raise NotImplementedError


# ----------------------------------------------------------------------------- GitHub

FAKE_GH = r'''
"""gh, as far as the GitHub recipe uses it, served from the records the test keeps."""
import argparse, json, os, shutil, sys
from pathlib import Path

records = Path(os.environ["QPLAN_TEST_GITHUB"])
db = json.loads(records.read_text())


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


if os.environ.get("GH_TOKEN") != db["token"]:
    fail("fake gh: not authenticated: GH_TOKEN is not the workflow's token", 4)
args = sys.argv[1:]
if args[:1] == ["api"]:
    prefix = f"repos/{db['repository']}/commits/"
    if len(args) == 2 and args[1].startswith(prefix) and args[1].endswith("/pulls"):
        sha = args[1][len(prefix):-len("/pulls")]
        pulls = [p for p in db["pulls"] if sha in (p["merge_commit_sha"], p["head"]["sha"])]
        print(json.dumps(pulls))
        sys.exit(0)
    fail(f"fake gh: not served: {args}", 2)
if os.environ.get("GH_REPO") != db["repository"]:
    fail("fake gh: no repository: the checkout's remote is not GitHub; set GH_REPO", 1)
parser = argparse.ArgumentParser(prog="gh")
if args[:2] == ["pr", "comment"]:
    parser.add_argument("number")
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--edit-last", action="store_true")
    options = parser.parse_args(args[2:])
    comments = db["comments"].setdefault(options.number, [])
    body = Path(options.body_file).read_text()
    if options.edit_last:
        if not comments:
            fail("fake gh: --edit-last: this user has no comment on the pull request yet", 1)
        comments[-1] = body
    else:
        comments.append(body)
    records.write_text(json.dumps(db))
    print(f"https://github.com/{db['repository']}/pull/{options.number}#comment")
elif args[:2] == ["run", "list"]:
    for option in ("--workflow", "--branch", "--event", "--status", "--json"):
        parser.add_argument(option, required=True)
    parser.add_argument("--limit", type=int, default=20)
    options = parser.parse_args(args[2:])
    runs = [
        r for r in sorted(db["runs"], key=lambda r: -r["databaseId"])
        if (r["workflowName"], r["headBranch"], r["event"], r["conclusion"])
        == (options.workflow, options.branch, options.event, options.status)
    ]
    fields = options.json.split(",")
    print(json.dumps([{f: r[f] for f in fields} for r in runs[: options.limit]]))
elif args[:2] == ["run", "download"]:
    parser.add_argument("run")
    parser.add_argument("--name", required=True)
    parser.add_argument("--dir", default=".")
    options = parser.parse_args(args[2:])
    artifact = Path(db["artifacts"]) / options.run / options.name
    if not artifact.is_dir():
        fail(f"fake gh: run {options.run} has no artifact {options.name}", 1)
    shutil.copytree(artifact, options.dir, dirs_exist_ok=True)
else:
    fail(f"fake gh: not served: {args}", 2)
'''


class GitHub(Platform):
    name = "github"
    repository = "example-org/experiments"
    token = "ghs_0123456789abcdefTOKEN"  # the workflow's github.token

    def __init__(self, root: Path, repo: Repository, runner_env: dict[str, str], state: str):
        super().__init__(root, repo, runner_env)
        self.workflow = load(RECIPES / "github-actions.yml")
        self.secrets = {"QPLAN_STATE": state}
        self.records = root / "github.json"
        self.artifacts = root / "github-artifacts"
        self.db: dict[str, Any] = {
            "token": self.token,
            "repository": self.repository,
            "artifacts": str(self.artifacts),
            "pulls": [],
            "runs": [],
            "comments": {},
        }
        self.save()
        bin_dir = root / "gh-bin"
        bin_dir.mkdir()
        gh = bin_dir / "gh"
        gh.write_text(f"#!{sys.executable}\n{FAKE_GH}")
        gh.chmod(0o755)
        self.runner_env = {
            **runner_env,
            "PATH": f"{bin_dir}:{runner_env['PATH']}",
            "QPLAN_TEST_GITHUB": str(self.records),
        }
        self.contexts: dict[int, dict[str, Any]] = {}  # per run: its event's context
        self.last_push_run = 0

    def save(self) -> None:
        self.records.write_text(json.dumps(self.db))

    def reload(self) -> None:
        self.db = json.loads(self.records.read_text())

    def pull(self, number: int) -> dict[str, Any]:
        return dict(self.db["pulls"][number - 1])

    # events

    def open_request(self, branch: str) -> int:
        number = len(self.db["pulls"]) + 1
        pull = {
            "number": number,
            "state": "open",
            "merged_at": None,
            "merge_commit_sha": None,
            "head": {"ref": branch, "sha": self.repo.sha(branch)},
            "base": {"ref": DEFAULT_BRANCH},
        }
        self.db["pulls"].append(pull)
        self.save()
        # the checkout of a pull request is GitHub's test merge of its head into its base
        merge = self.repo.merge(
            branch,
            DEFAULT_BRANCH,
            f"Merge {pull['head']['sha']} into {DEFAULT_BRANCH}",
            f"refs/pull/{number}/merge",
        )
        context = self.context("pull_request", merge, f"refs/pull/{number}/merge")
        context["event"] = {"pull_request": {"number": number, "head": pull["head"]}}
        context["head_ref"] = branch
        self.run_workflow(context)
        return number

    def rerun_plan(self, number: int) -> JobResult:
        run = max(
            r["databaseId"]
            for r in self.db["runs"]
            if r["event"] == "pull_request" and r["headBranch"] == self.pull(number)["head"]["ref"]
        )
        return self.run_workflow(self.contexts[run], run)

    def merge(self, number: int) -> JobResult:
        pull = self.pull(number)
        sha = self.repo.merge(
            pull["head"]["ref"],
            DEFAULT_BRANCH,
            f"Merge pull request #{number} from {pull['head']['ref']}",
            DEFAULT_BRANCH,
        )
        pull.update(state="closed", merged_at="2026-01-01T00:00:00Z", merge_commit_sha=sha)
        self.db["pulls"][number - 1] = pull
        self.save()
        return self.run_workflow(self.context("push", sha, f"refs/heads/{DEFAULT_BRANCH}"))

    def rerun_apply(self) -> JobResult:
        return self.run_workflow(self.contexts[self.last_push_run], self.last_push_run)

    def comments(self, number: int) -> list[str]:
        self.reload()
        return list(self.db["comments"].get(str(number), []))

    def plan_artifact(self, number: int) -> dict[str, bytes]:
        branch = self.pull(number)["head"]["ref"]
        run = max(r["databaseId"] for r in self.db["runs"] if r["headBranch"] == branch)
        folder = self.artifacts / str(run) / "qplan-plan"
        return {p.name: p.read_bytes() for p in folder.iterdir()}

    # the runner

    def context(self, event: str, sha: str, ref: str) -> dict[str, Any]:
        return {
            "event_name": event,
            "sha": sha,
            "ref": ref,
            "repository": self.repository,
            "token": self.token,
            "workflow": self.workflow["name"],
        }

    def run_workflow(self, context: dict[str, Any], rerun: int | None = None) -> JobResult:
        """The jobs of the workflow that ``context``'s event starts (one, in this recipe);
        ``rerun``: the run to run again, else a new run."""
        self.reload()
        run = rerun or len(self.contexts) + 1
        self.contexts[run] = context
        if context["event_name"] == "push":
            self.last_push_run = run
        jobs = [
            (name, job)
            for name, job in self.workflow["jobs"].items()
            if self.condition(job["if"], context)
        ]
        assert len(jobs) == 1, jobs
        name, job = jobs[0]
        result = self.run_job(name, job, context, run)
        self.reload()
        record = {
            "databaseId": run,
            "workflowName": self.workflow["name"],
            "headBranch": context.get("head_ref", DEFAULT_BRANCH),
            "headSha": context["event"]["pull_request"]["head"]["sha"]
            if "event" in context
            else context["sha"],
            "event": context["event_name"],
            "status": "completed",
            "conclusion": "success" if result.ok else "failure",
        }
        self.db["runs"] = [r for r in self.db["runs"] if r["databaseId"] != run] + [record]
        self.save()
        self.jobs.append(result)
        return result

    @staticmethod
    def condition(text: str, context: dict[str, Any]) -> bool:
        match = re.fullmatch(r"github\.(\w+) == '([^']*)'", text.strip())
        assert match, f"an if: the test does not evaluate: {text}"
        return bool(context[match[1]] == match[2])

    def expression(self, text: str, context: dict[str, Any]) -> str:
        """``text`` with its ``${{ github.PATH }}`` and ``${{ secrets.NAME }}`` evaluated."""

        def value(match: re.Match[str]) -> str:
            root, *path = match[1].split(".")
            found: Any = {"github": context, "secrets": self.secrets}[root]
            for key in path:
                found = found[key]
            return str(found)

        return re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", value, str(text))

    def run_job(
        self, name: str, job: dict[str, Any], context: dict[str, Any], run: int
    ) -> JobResult:
        assert job["runs-on"] == "ubuntu-latest"
        assert self.workflow["defaults"]["run"]["shell"] == "bash"
        workspace = self.workspace(name)
        github_env = workspace.with_name(workspace.name + ".env")
        github_env.touch()
        env = {
            **self.runner_env,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": context["event_name"],
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_SHA": context["sha"],
            "GITHUB_REF": context["ref"],
            "GITHUB_REF_NAME": context["ref"].removeprefix("refs/heads/"),
            "GITHUB_WORKFLOW": self.workflow["name"],
            "GITHUB_RUN_ID": str(run),
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_ENV": str(github_env),
        }
        for key, text in {**self.workflow.get("env", {}), **job.get("env", {})}.items():
            env[key] = self.expression(text, context)
        log: list[str] = []
        for step in job["steps"]:
            step_env = {k: self.expression(v, context) for k, v in step.get("env", {}).items()}
            added = dict(line.split("=", 1) for line in github_env.read_text().splitlines() if line)
            if "uses" in step:
                self.action(step, workspace, context, run)
                continue
            script = step["run"]
            assert "${{" not in script  # expressions reach a script through env: only
            if script.strip() == INSTALL:
                continue  # the qplan under test is installed already
            path = workspace.with_name(workspace.name + ".step.sh")
            path.write_text(script)
            command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)]
            done = run_bash(command, workspace, {**env, **added, **step_env}, log)
            if done.returncode != 0:
                return JobResult(name, False, "".join(log))
        return JobResult(name, True, "".join(log))

    def action(
        self, step: dict[str, Any], workspace: Path, context: dict[str, Any], run: int
    ) -> None:
        uses, given = step["uses"], step.get("with", {})
        if uses == "actions/checkout@v4":
            branch = context["ref"].removeprefix("refs/heads/")
            self.repo.checkout(
                workspace, context["sha"], branch if branch != context["ref"] else None
            )
        elif uses == "actions/setup-python@v5":
            assert given == {"python-version": "3.12"}
        elif uses == "actions/upload-artifact@v4":
            target = self.artifacts / str(run) / given["name"]
            if target.exists():
                assert given.get("overwrite") is True, "v4: an artifact's name is taken"
                shutil.rmtree(target)
            target.mkdir(parents=True)
            for name in str(given["path"]).split():
                shutil.copy(workspace / name, target / name)
        else:
            raise AssertionError(f"an action the test does not play: {uses}")


# ----------------------------------------------------------------------------- GitLab


@dataclass
class GitLabRecords:
    """What GitLab's API serves; the HTTP handler and the test share it."""

    token: str
    project: int
    note_token: str = ""
    merge_requests: list[dict[str, Any]] = field(default_factory=list)
    pipelines: dict[int, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: dict[int, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def gitlab_api(records: GitLabRecords) -> type[BaseHTTPRequestHandler]:
    prefix = f"/api/v4/projects/{records.project}/"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: Any, kind: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def route(self) -> tuple[list[str], dict[str, list[str]]] | None:
            url = urlsplit(self.path)
            allowed = {records.token}
            if self.command == "POST":  # a note: the plan jobs' own token may post it
                allowed.add(records.note_token)
            if self.headers.get("PRIVATE-TOKEN") not in allowed:
                self.reply(401, {"message": "401 Unauthorized"})
                return None
            if not url.path.startswith(prefix):
                self.reply(404, {"message": "404 Project Not Found"})
                return None
            return url.path[len(prefix) :].split("/"), parse_qs(url.query)

        def do_POST(self) -> None:
            routed = self.route()
            if routed is None:
                return
            parts, _ = routed
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            if parts[0] == "merge_requests" and parts[2:] == ["notes"] and "body" in form:
                with records.lock:
                    records.notes.setdefault(int(parts[1]), []).append(form["body"][0])
                self.reply(201, {"id": 1, "body": form["body"][0]})
            else:
                self.reply(404, {"message": "404 Not Found"})

        def do_GET(self) -> None:
            routed = self.route()
            if routed is None:
                return
            parts, query = routed
            with records.lock:
                if parts[:2] == ["repository", "commits"] and parts[3:] == ["merge_requests"]:
                    sha = parts[2]
                    found = [
                        m
                        for m in records.merge_requests
                        if sha in (m["sha"], m["merge_commit_sha"])
                    ]
                    self.reply(200, found)
                elif parts[0] == "merge_requests" and parts[2:] == ["pipelines"]:
                    mine = [p for p in records.pipelines.values() if p["mr"] == int(parts[1])]
                    shown = ("id", "sha", "ref", "status")
                    self.reply(200, [{k: p[k] for k in shown} for p in reversed(mine)])
                elif parts[0] == "pipelines" and parts[2:] == ["jobs"]:
                    scopes = query.get("scope[]", [])
                    jobs = [
                        {k: j[k] for k in ("id", "name", "status")}
                        for j in records.jobs.values()
                        if j["pipeline"] == int(parts[1])
                        and not j["retried"]
                        and (not scopes or j["status"] in scopes)
                    ]
                    self.reply(200, jobs)
                elif parts[0] == "jobs" and parts[2:] == ["artifacts"]:
                    job = records.jobs.get(int(parts[1]))
                    if job is None or job["artifacts"] is None:
                        self.reply(404, {"message": "404 Not found"})
                    else:
                        self.reply(200, job["artifacts"], "application/zip")
                else:
                    self.reply(404, {"message": "404 Not Found"})

    return Handler


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 in a thread; its base URL. Stopped on leaving."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class GitLab(Platform):
    name = "gitlab"
    project = 42
    host = "gitlab.test"
    token = "glpat-0123456789TOKEN"  # QPLAN_GITLAB_TOKEN: protected
    note_token = "glpat-notes0123TOKEN"  # QPLAN_GITLAB_NOTE_TOKEN

    def __init__(
        self,
        root: Path,
        repo: Repository,
        runner_env: dict[str, str],
        state: str,
        records: GitLabRecords,
        api: str,
    ):
        super().__init__(root, repo, runner_env)
        self.pipeline_file = load(RECIPES / "gitlab-ci.yml")
        # a merge request's job never asks for the token that pushes to the default branch
        assert "QPLAN_GITLAB_TOKEN" not in json.dumps(self.pipeline_file["qplan-plan"])
        self.records = records
        self.api = api
        self.variables = {"QPLAN_STATE": state, "QPLAN_GITLAB_NOTE_TOKEN": self.note_token}
        # a protected variable: only pipelines of the protected default branch get it
        self.protected = {"QPLAN_GITLAB_TOKEN": self.token}
        self.last_push_pipeline = 0

    # events

    def open_request(self, branch: str) -> int:
        with self.records.lock:
            iid = len(self.records.merge_requests) + 1
            self.records.merge_requests.append(
                {
                    "iid": iid,
                    "state": "opened",
                    "sha": self.repo.sha(branch),
                    "source_branch": branch,
                    "target_branch": DEFAULT_BRANCH,
                    "merge_commit_sha": None,
                }
            )
        sha = self.repo.sha(branch)
        self.pipeline(
            sha,
            {
                "CI_PIPELINE_SOURCE": "merge_request_event",
                "CI_COMMIT_REF_NAME": branch,
                "CI_MERGE_REQUEST_IID": str(iid),
                "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": branch,
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": DEFAULT_BRANCH,
            },
            mr=iid,
        )
        return iid

    def rerun_plan(self, number: int) -> JobResult:
        latest = max(p for p, v in self.records.pipelines.items() if v["mr"] == number)
        return self.retry(latest, "qplan-plan")

    def merge(self, number: int) -> JobResult:
        request = self.records.merge_requests[number - 1]
        branch = request["source_branch"]
        message = (
            f"Merge branch '{branch}' into '{DEFAULT_BRANCH}'\n\n"
            f"See merge request group/project!{number}"
        )
        sha = self.repo.merge(branch, DEFAULT_BRANCH, message, DEFAULT_BRANCH)
        with self.records.lock:
            request.update(state="merged", merge_commit_sha=sha)
        variables = {
            "CI_PIPELINE_SOURCE": "push",
            "CI_COMMIT_BRANCH": DEFAULT_BRANCH,
            "CI_COMMIT_REF_NAME": DEFAULT_BRANCH,
        }
        self.last_push_pipeline = self.pipeline(sha, variables, mr=None)
        return self.jobs[-1]

    def rerun_apply(self) -> JobResult:
        return self.retry(self.last_push_pipeline, "qplan-apply")

    def comments(self, number: int) -> list[str]:
        with self.records.lock:
            return list(self.records.notes.get(number, []))

    def plan_artifact(self, number: int) -> dict[str, bytes]:
        latest = max(p for p, v in self.records.pipelines.items() if v["mr"] == number)
        job = next(
            j
            for j in self.records.jobs.values()
            if j["pipeline"] == latest and not j["retried"] and j["name"] == "qplan-plan"
        )
        with zipfile.ZipFile(io.BytesIO(job["artifacts"])) as archive:
            return {name: archive.read(name) for name in archive.namelist()}

    # pipelines and the runner

    def pipeline(self, sha: str, variables: dict[str, str], mr: int | None) -> int:
        """A pipeline at ``sha``: the jobs whose rules match, run one after the other."""
        with self.records.lock:
            pid = len(self.records.pipelines) + 1
            self.records.pipelines[pid] = {
                "id": pid,
                "sha": sha,
                "ref": f"refs/merge-requests/{mr}/head" if mr else DEFAULT_BRANCH,
                "status": "running",
                "mr": mr,
                "variables": variables,
            }
        names = [
            name
            for name, job in self.pipeline_file.items()
            if isinstance(job, dict) and "script" in job and self.selected(job, sha, variables)
        ]
        assert len(names) == 1, names
        self.run_job(pid, names[0])
        return pid

    def retry(self, pid: int, name: str) -> JobResult:
        with self.records.lock:
            for job in self.records.jobs.values():
                if job["pipeline"] == pid and job["name"] == name:
                    job["retried"] = True
        return self.run_job(pid, name)

    def predefined(self, pid: int, job_id: int, name: str) -> dict[str, str]:
        pipeline = self.records.pipelines[pid]
        ref = pipeline["variables"]["CI_COMMIT_REF_NAME"]
        return {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_API_V4_URL": f"{self.api}/api/v4",
            "CI_PROJECT_ID": str(self.project),
            "CI_PROJECT_PATH": "group/project",
            "CI_SERVER_HOST": self.host,
            "CI_SERVER_PORT": "443",
            "CI_SERVER_PROTOCOL": "https",
            "CI_DEFAULT_BRANCH": DEFAULT_BRANCH,
            "CI_COMMIT_SHA": pipeline["sha"],
            "CI_COMMIT_REF_SLUG": re.sub(r"[^a-z0-9]+", "-", ref.lower()).strip("-"),
            "CI_PIPELINE_ID": str(pid),
            "CI_JOB_ID": str(job_id),
            "CI_JOB_NAME": name,
            **pipeline["variables"],
        }

    def selected(self, job: dict[str, Any], sha: str, variables: dict[str, str]) -> bool:
        env = {"CI_DEFAULT_BRANCH": DEFAULT_BRANCH, **variables}

        def operand(text: str) -> str | None:
            text = text.strip()
            if text.startswith("$"):
                return env.get(text[1:])
            assert text.startswith('"') and text.endswith('"'), text
            return text[1:-1]

        def holds(rule: str) -> bool:
            clauses = [c.split("==") for c in rule.split("&&")]
            assert all(len(c) == 2 for c in clauses), f"a rule the test does not evaluate: {rule}"
            return all(operand(a) == operand(b) for a, b in clauses)

        assert all(set(rule) == {"if"} for rule in job["rules"])
        return any(holds(rule["if"]) for rule in job["rules"])

    def run_job(self, pid: int, name: str) -> JobResult:
        job = self.pipeline_file[name]
        assert self.pipeline_file["default"]["image"] == "python:3.12"  # this machine instead
        assert job["before_script"] == [INSTALL]  # skipped: the qplan under test is installed
        with self.records.lock:
            job_id = len(self.records.jobs) + 1
            self.records.jobs[job_id] = {
                "id": job_id,
                "name": name,
                "status": "running",
                "pipeline": pid,
                "retried": False,
                "artifacts": None,
            }
        env = {**self.runner_env, **self.predefined(pid, job_id, name), **self.variables}
        if env.get("CI_COMMIT_BRANCH") == DEFAULT_BRANCH:
            env.update(self.protected)
        for key, value in self.pipeline_file.get("variables", {}).items():
            assert "$" not in str(value)
            env[key] = str(value)
        if "resource_group" in job:  # jobs run one at a time here: the group is honoured
            assert re.sub(r"\$(\w+)", lambda m: env[m[1]], job["resource_group"])
        workspace = self.workspace(name)
        self.repo.checkout(workspace, env["CI_COMMIT_SHA"])
        script = workspace.with_name(workspace.name + ".sh")
        script.write_text("set -eo pipefail\n" + "\n".join(job["script"]) + "\n")
        log: list[str] = []
        done = run_bash(["bash", "--noprofile", "--norc", str(script)], workspace, env, log)
        ok = done.returncode == 0
        archive = None
        if ok and "artifacts" in job:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as out:
                for path in job["artifacts"]["paths"]:
                    out.write(workspace / path, path)
            archive = buffer.getvalue()
        with self.records.lock:
            self.records.jobs[job_id].update(
                status="success" if ok else "failed", artifacts=archive
            )
            statuses = {
                j["status"]
                for j in self.records.jobs.values()
                if j["pipeline"] == pid and not j["retried"]
            }
            self.records.pipelines[pid]["status"] = (
                "success" if statuses == {"success"} else "failed"
            )
        result = JobResult(name, ok, "".join(log))
        self.jobs.append(result)
        return result


# ----------------------------------------------------------------------------- the scenario


def journal_starts(journal: Path) -> list[dict[str, Any]]:
    if not journal.exists():
        return []
    lines = [json.loads(x) for x in journal.read_text().splitlines() if x.endswith("}")]
    return [line for line in lines if line["event"] == "start"]


def run_scenario(platform: Platform, developer: Developer, journal: Path) -> None:
    repo = platform.repo
    request = "pull request" if platform.name == "github" else "merge request"

    # 1. a request adds the quickstart: planned, kept, commented
    developer.add_quickstart("add-experiments")
    first = platform.open_request("add-experiments")
    plan = platform.jobs[-1]
    assert plan.ok, plan.log
    assert f"Changes: merging this {request} applies this plan." in plan.log
    artifact = platform.plan_artifact(first)
    assert sorted(artifact) == ["plan.md", "qplan.plan"]
    markdown = artifact["plan.md"].decode()
    assert markdown.startswith("### qplan plan: stack `quickstart`"), markdown
    assert "**6 to create**" in markdown
    assert json.loads(artifact["qplan.plan"])["manifest"] == "qplan.yaml"
    assert platform.comments(first) == [markdown]

    # 2. a second request, on top of the first before it is merged, raises the shots
    developer.raise_shots("more-shots", on="add-experiments")
    second = platform.open_request("more-shots")
    assert platform.jobs[-1].ok, platform.jobs[-1].log
    stale_plan = platform.plan_artifact(second)["plan.md"].decode()
    assert "**6 to create**" in stale_plan  # planned on the state before the first's apply
    assert platform.comments(second) == [stale_plan]

    # 3. merging the first applies the plan reviewed on it and pushes qplan.lock
    applied = platform.merge(first)
    assert applied.ok, applied.log
    assert "6 created" in applied.log and "qplan.lock matches the state." in applied.log
    assert "[skip ci]" in repo.message(DEFAULT_BRANCH)
    first_lock = repo.file_on(DEFAULT_BRANCH, "qplan.lock")
    assert '"stack": "quickstart"' in first_lock
    starts = journal_starts(journal)
    assert len(starts) == 6 and len({s["key"] for s in starts}) == 6

    # 4. merging the second: its plan predates the first's apply, so it is refused
    tip = repo.sha(DEFAULT_BRANCH)
    refused = platform.merge(second)
    assert not refused.ok, refused.log
    assert "saved plan is stale" in refused.log, refused.log
    assert "If qplan said the plan is stale, re" in refused.log  # what to do next
    assert repo.sha(DEFAULT_BRANCH) != tip  # the merge itself
    assert repo.file_on(DEFAULT_BRANCH, "qplan.lock") == first_lock  # no lock commit
    assert len(journal_starts(journal)) == 6  # nothing ran

    # 5. the second's plan job again, reviewed, then the failed apply job again
    replanned = platform.rerun_plan(second)
    assert replanned.ok, replanned.log
    new_plan = platform.plan_artifact(second)["plan.md"].decode()
    assert "**6 to replace**" in new_plan, new_plan
    assert platform.comments(second)[-1] == new_plan
    applied = platform.rerun_apply()
    assert applied.ok, applied.log
    assert "qplan.lock matches the state." in applied.log
    assert "[skip ci]" in repo.message(DEFAULT_BRANCH)
    assert repo.file_on(DEFAULT_BRANCH, "qplan.lock") != first_lock
    starts = journal_starts(journal)
    assert len(starts) == 12 and len({s["key"] for s in starts}) == 12  # none started twice
    assert set(Counter(s["address"] for s in starts).values()) == {2}  # once per shot count


@pytest.fixture
def tag() -> Iterator[str]:
    """Every process a runner starts carries it; whatever is left of them is killed after."""
    value = new_tag()
    yield value
    kill_tagged(value)


@pytest.fixture
def setting(tmp_path: Path, tag: str) -> tuple[Repository, dict[str, str]]:
    """The team's repository with a first commit, and the runners' base environment: this
    machine's tools, a home and a git configuration of the test's own."""
    home = tmp_path / "home"
    home.mkdir()
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    env = {
        "PATH": f"{INSTALLED}:{os.environ['PATH']}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "QPLAN_LOCAL_JOURNAL": str(tmp_path / "journal.log"),
        TAG: tag,
    }
    assert shutil.which("qplan", path=str(INSTALLED)), "qplan is not installed beside python"
    return Repository(tmp_path, Git(env)), env


def secrets_kept(platform: Platform, secrets: list[str]) -> None:
    """No secret in a job's log, a comment, an artifact, or a file the repository holds."""
    texts = [job.log for job in platform.jobs]
    texts += [c for n in (1, 2) for c in platform.comments(n)]
    texts += [b.decode() for n in (1, 2) for b in platform.plan_artifact(n).values()]
    tree = platform.repo.git(platform.repo.origin, "ls-tree", "-r", "--name-only", DEFAULT_BRANCH)
    texts += [platform.repo.file_on(DEFAULT_BRANCH, path) for path in tree.splitlines()]
    for secret in secrets:
        assert not any(secret in text for text in texts)


def password(url: str) -> str:
    secret = urlsplit(url).password
    assert secret
    return secret


def test_github_actions_recipe(
    tmp_path: Path, setting: tuple[Repository, dict[str, str]], postgres_url: str
) -> None:
    repo, env = setting
    workflow = load(RECIPES / "github-actions.yml")
    assert workflow["jobs"]["plan"]["permissions"]["pull-requests"] == "write"
    assert workflow["jobs"]["apply"]["permissions"] == {
        "contents": "write",
        "pull-requests": "read",
        "actions": "read",
    }
    concurrency = workflow["jobs"]["apply"]["concurrency"]
    assert concurrency["cancel-in-progress"] is False and "github.ref" in concurrency["group"]
    developer = Developer(repo)
    platform = GitHub(tmp_path, repo, env, postgres_url)
    run_scenario(platform, developer, tmp_path / "journal.log")
    # the re-run plan edited the comment it had posted
    assert len(platform.comments(2)) == 1
    secrets_kept(platform, [password(postgres_url), GitHub.token])


def test_gitlab_ci_recipe(
    tmp_path: Path, setting: tuple[Repository, dict[str, str]], postgres_url: str
) -> None:
    repo, env = setting
    records = GitLabRecords(
        token=GitLab.token, project=GitLab.project, note_token=GitLab.note_token
    )
    with serving(gitlab_api(records)) as api:
        # the push URL the recipe builds reaches origin, as GitLab's git server would
        push_url = f"https://qplan:{GitLab.token}@{GitLab.host}:443/"
        with Path(env["GIT_CONFIG_GLOBAL"]).open("a") as config:
            config.write(f'[url "{repo.root / "server"}/"]\n\tinsteadOf = {push_url}\n')
        developer = Developer(repo)
        platform = GitLab(tmp_path, repo, env, postgres_url, records, api)
        run_scenario(platform, developer, tmp_path / "journal.log")
        assert len(platform.comments(2)) == 2  # a note per plan
        secrets_kept(platform, [password(postgres_url), GitLab.token, GitLab.note_token])
