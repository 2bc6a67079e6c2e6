"""deploy/Dockerfile, .dockerignore and the image's health check, checked without a Docker engine.

No engine runs here, so the image is never built in the tests. What can be checked is: the
instructions parse, every COPY source exists and is in the build context (.dockerignore does not
drop it), the entry point is `feedbackloop`, the user is not root, no secret is baked in, the
installed package carries every file the services read, and the health check script works.
"""

import fnmatch
import json
import os
import re
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deploy import healthcheck
from feedbackloop import cli
from feedbackloop.cli import kafka as kafka_cli
from feedbackloop.devstack.config import StackSettings
from tests.deploy.test_compose import SECRET_SETTINGS, SERVICE_SETTINGS, env_names, load_compose

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
INSTRUCTIONS = {
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
}


# --- a Dockerfile reader (the default escape character, no heredocs) ---------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continued lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may also sit between continued lines
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical = pending + stripped
        pending = ""
        keyword, _, args = logical.partition(" ")
        result.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def stages(parsed: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, FROM first."""
    result: list[list[tuple[str, str]]] = []
    for keyword, args in parsed:
        if keyword == "FROM":
            result.append([])
        assert result, f"{keyword} before the first FROM"
        result[-1].append((keyword, args))
    return result


def flags_and_words(args: str) -> tuple[dict[str, str], list[str]]:
    """`--from=build a b` -> ({"from": "build"}, ["a", "b"])."""
    flags, words = {}, []
    for word in args.split():
        if word.startswith("--") and not words:
            key, _, value = word[2:].partition("=")
            flags[key] = value
        else:
            words.append(word)
    return flags, words


def exec_form(args: str) -> list[str]:
    """A JSON array of strings (the exec form), or fail."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def env_pairs(args: str) -> dict[str, str]:
    pairs = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S+)', args)
    assert pairs, f"ENV {args}: use the KEY=value form"
    return {key: value.strip('"') for key, value in pairs}


@pytest.fixture(scope="module")
def parsed() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(parsed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return stages(parsed)[-1]


# --- .dockerignore (Docker's rules: from the root, `**`, `!` exceptions, last match wins) -------


def ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((negated, re.compile(regex)))
    return patterns


def ignored(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the build context leaves the path out (a pattern on a parent folder counts)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negated, regex in patterns:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            result = not negated
    return result


def tracked(*paths: str) -> list[str]:
    """The files git tracks under the paths."""
    out = subprocess.run(
        ["git", "ls-files", "--", *paths], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if line]


# --- the Dockerfile ------------------------------------------------------------------------------


def test_the_dockerfile_parses(parsed: list[tuple[str, str]]) -> None:
    unknown = {keyword for keyword, _ in parsed} - INSTRUCTIONS
    assert not unknown, f"unknown instructions {unknown}"
    names: list[str] = []
    for stage in stages(parsed):
        _, words = flags_and_words(stage[0][1])
        assert words[0] == "python:3.11-slim", words
        if len(words) == 3:
            assert words[1].upper() == "AS", words
            names.append(words[2])
        for keyword, args in stage:
            if keyword in {"CMD", "ENTRYPOINT"} or (keyword == "RUN" and args.startswith("[")):
                exec_form(args)
            if keyword == "HEALTHCHECK":
                _, _, command = args.partition("CMD ")
                exec_form(command)
            if keyword == "ENV":
                env_pairs(args)
            if keyword == "COPY":
                flags, words = flags_and_words(args)
                assert len(words) >= 2, f"COPY {args}"
                if "from" in flags:
                    assert flags["from"] in names, f"COPY --from={flags['from']}: no such stage"
    assert len(names) == len(set(names))


def test_every_copy_source_is_in_the_build_context(parsed: list[tuple[str, str]]) -> None:
    # compose.yaml builds with the repository root as context.
    services = load_compose()["services"]
    assert (ROOT / "deploy" / services["intake"]["build"]["context"]).resolve() == ROOT
    patterns = ignore_patterns()
    copied = []
    for keyword, args in parsed:
        if keyword not in {"COPY", "ADD"}:
            continue
        flags, words = flags_and_words(args)
        if "from" in flags:
            continue
        for source in words[:-1]:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: no such file in the repository"
            assert not ignored(source.rstrip("/"), patterns), f"{source} is in .dockerignore"
            files = tracked(source)
            assert files, f"git tracks nothing under {source}"
            dropped = [f for f in files if ignored(f, patterns)]
            assert not dropped, f".dockerignore drops {dropped}"
            copied.append(source.rstrip("/"))
    # What `pip install .` needs: the project file, its readme and both packages.
    assert {"pyproject.toml", "README.md", "feedbackloop", "services"} <= set(copied)


def test_the_dockerignore_keeps_local_state_caches_and_secrets_out() -> None:
    patterns = ignore_patterns()
    for path in [
        ".venv/bin/python",
        ".var/kafka/data/meta.properties",
        ".var/models/router/model.json",
        "artifacts/run.log",
        "models/router/model.json",
        "feedbackloop/models/x.bin",
        "services/intake/__pycache__/app.cpython-311.pyc",
        ".pytest_cache/v/cache",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/content",
        "intake.db",
        "tests/x/followup.db",
        "router.db-wal",
        "deploy/.env",
        ".env",
        ".git/HEAD",
        "feedbackloop.egg-info/PKG-INFO",
    ]:
        assert ignored(path, patterns), f"{path} would enter the build context"
    for path in tracked():
        if not ignored(path, patterns):
            continue
        assert path == "deploy/.env.example" or not path.startswith(
            ("feedbackloop/", "services/", "deploy/healthcheck.py")
        ), f"{path} is dropped from the build context"
    assert not ignored("deploy/.env.example", patterns)
    assert not ignored("services/router/models.py", patterns)


def test_the_entrypoint_is_feedbackloop(final: list[tuple[str, str]]) -> None:
    entrypoints = [exec_form(a) for k, a in final if k == "ENTRYPOINT"]
    assert entrypoints[-1] == ["feedbackloop"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["feedbackloop"] == "feedbackloop.cli:main"
    commands = [exec_form(a) for k, a in final if k == "CMD"]
    assert commands[-1] == ["--help"]
    # The venv's bin is on PATH, where pip puts the console script.
    env: dict[str, str] = {}
    for keyword, args in final:
        if keyword == "ENV":
            env |= env_pairs(args)
    assert env["PATH"].startswith("/opt/feedbackloop/bin:")
    copies = [flags_and_words(a) for k, a in final if k == "COPY"]
    assert ({"from": "build"}, ["/opt/feedbackloop", "/opt/feedbackloop"]) in copies


def test_the_image_runs_as_an_unprivileged_user(final: list[tuple[str, str]]) -> None:
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "no USER: the services would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users[-1]
    # Everything after the last USER runs as that user: only metadata may follow.
    after = [k for k, _ in final[[k for k, _ in final].index("USER") :]]
    assert set(after) <= {"USER", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD", "WORKDIR", "ENV"}


def test_the_image_environment_is_settings_and_holds_no_secret(
    parsed: list[tuple[str, str]], final: list[tuple[str, str]]
) -> None:
    known = set().union(*(env_names(c) for c in (*SERVICE_SETTINGS.values(), StackSettings)))
    env: dict[str, str] = {}
    for keyword, args in parsed:
        if keyword == "ENV":
            env |= env_pairs(args)
        if keyword == "ARG":
            assert not re.search(r"PASSWORD|SECRET|TOKEN|KEY", args, re.I), f"ARG {args}"
    ours = {k for k in env if k.startswith("FEEDBACKLOOP_")}
    assert ours <= known, f"not settings: {sorted(ours - known)}"
    assert not ours & SECRET_SETTINGS, f"secrets in the image: {sorted(ours & SECRET_SETTINGS)}"
    assert env["FEEDBACKLOOP_ENV"] == "production"
    for name in SERVICE_SETTINGS:
        assert env[f"FEEDBACKLOOP_{name.upper()}_HOST"] == "0.0.0.0", name
    compose = load_compose()["services"]
    model_dir = env["FEEDBACKLOOP_ROUTER_MODEL_DIR"]
    assert compose["router"]["environment"]["FEEDBACKLOOP_ROUTER_MODEL_DIR"] == model_dir
    # The model folder exists in the image, owned by the user, so a new volume copies it.
    runs = " ".join(args for keyword, args in final if keyword == "RUN")
    assert f"mkdir -p {model_dir}" in runs


def test_the_health_check_script_is_copied_where_it_runs(final: list[tuple[str, str]]) -> None:
    (check,) = [args for keyword, args in final if keyword == "HEALTHCHECK"]
    command = exec_form(check.partition("CMD ")[2])
    assert command[0] == "python"
    copies = [flags_and_words(a)[1] for k, a in final if k == "COPY"]
    assert ["deploy/healthcheck.py", command[1]] in copies
    for service in load_compose()["services"].values():
        test = service.get("healthcheck", {}).get("test", [])
        if "python" in test:
            assert test[test.index("python") + 1] == command[1]


# --- the image's environment plus compose's, as a container sees it ------------------------------


def container_env(final: list[tuple[str, str]], service: str) -> dict[str, str]:
    """The FEEDBACKLOOP_ variables a compose service's container starts with."""
    env: dict[str, str] = {}
    for keyword, args in final:
        if keyword == "ENV":
            env |= env_pairs(args)
    compose = load_compose()["services"][service]
    env |= {k: str(v) for k, v in (compose.get("environment") or {}).items()}
    return {k: v for k, v in env.items() if k.startswith("FEEDBACKLOOP_")}


def only_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key in list(os.environ):
        if key.startswith("FEEDBACKLOOP_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_each_service_accepts_its_container_settings_in_production(
    service: str, final: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `feedbackloop serve SERVICE` reads first: a missing secret fails here, not at start.
    only_env(monkeypatch, container_env(final, service))
    settings = SERVICE_SETTINGS[service]()
    assert getattr(settings, "environment", "production") == "production"
    assert getattr(settings, "host") == "0.0.0.0"  # noqa: B009 (not every class types it alike)


def test_the_one_shot_commands_run_with_their_container_settings(
    final: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.router import classifier

    created: list[tuple[str, int]] = []
    monkeypatch.setattr(
        kafka_cli,
        "create_topics",
        lambda bootstrap, names, *, partitions: created.append((bootstrap, partitions)) or [],
    )
    # A model is there: `router train --if-missing` stops before reading /data.
    monkeypatch.setattr(classifier.CategoryModel, "load", classmethod(lambda cls, path: object()))
    services = load_compose()["services"]
    for name in ("topics", "router-train"):
        only_env(monkeypatch, container_env(final, name))
        result = CliRunner().invoke(cli.app, services[name]["command"])
        assert result.exit_code == 0, f"{name}: {result.output}{result.exception!r}"
    assert created == [("kafka:9092", 6)]


# --- what `pip install .` puts in the image --------------------------------------------------


def test_the_installed_packages_carry_every_file_the_services_read() -> None:
    """setuptools' rules of pyproject.toml, applied to the tracked files (no build needed)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    include = config["setuptools"]["packages"]["find"]["include"]
    data_patterns = config["setuptools"]["package-data"]["*"]
    files = tracked("feedbackloop", "services")
    packages = {
        str(Path(f).parent)
        for f in files
        if f.endswith("/__init__.py")
        and any(fnmatch.fnmatchcase(str(Path(f).parent).replace("/", "."), p) for p in include)
    }

    def as_data(path: Path) -> bool:
        for package in packages:
            if not path.is_relative_to(package):
                continue
            parts = path.relative_to(package).parts
            for pattern in data_patterns:
                segments = pattern.split("/")
                if len(segments) == len(parts) and all(
                    fnmatch.fnmatchcase(part, segment)
                    for part, segment in zip(parts, segments, strict=True)
                ):
                    return True
        return False

    missing = [
        f
        for f in files
        if not (f.endswith(".py") and str(Path(f).parent) in packages) and not as_data(Path(f))
    ]
    assert not missing, f"not installed by `pip install .`: {missing}"


# --- the health check script -------------------------------------------------------------------


def test_the_health_check_knows_each_services_default_port() -> None:
    defaults = {name: s.model_fields["port"].default for name, s in SERVICE_SETTINGS.items()}
    assert defaults == healthcheck.DEFAULT_PORTS


@pytest.mark.parametrize(
    ("cmdline", "service"),
    [
        (
            [
                "/opt/feedbackloop/bin/python",
                "/opt/feedbackloop/bin/feedbackloop",
                "serve",
                "router",
            ],
            "router",
        ),
        (["/opt/feedbackloop/bin/feedbackloop", "serve", "metrics", ""], "metrics"),
        (["/opt/feedbackloop/bin/feedbackloop", "router", "train", "--if-missing"], None),
        (["/opt/feedbackloop/bin/feedbackloop", "serve"], None),
    ],
)
def test_the_health_check_finds_the_served_service(cmdline: list[str], service: str) -> None:
    assert healthcheck.served_service(cmdline) == service


class _Healthz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = type(self).status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def healthz_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        _Healthz.status = 200


def test_the_health_check_passes_only_on_200(
    healthz_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_METRICS_PORT", str(healthz_server.server_address[1]))
    assert healthcheck.main(["healthcheck.py", "metrics"]) == 0
    _Healthz.status = 503  # metrics still folding the log
    assert healthcheck.main(["healthcheck.py", "metrics"]) == 1
    assert healthcheck.main(["healthcheck.py", "nonsense"]) == 1
    healthz_server.shutdown()
    healthz_server.server_close()
    assert healthcheck.main(["healthcheck.py", "metrics"]) == 1  # nothing listens
