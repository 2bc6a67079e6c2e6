"""deploy/compose.yaml: docker-compose accepts it, and everything it names exists.

There is no Docker engine here. `docker-compose config` (Debian's package docker-compose, 1.29;
`make test` installs it through scripts/ensure-debian-packages.sh) validates and interpolates the
file without one; without docker-compose those tests fail, as promtool's do. The other checks read
the YAML in Python, so a renamed setting, a moved file or a scrape target without a service fails
here rather than at deploy time.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from feedbackloop import cli
from feedbackloop.devstack.config import StackSettings
from feedbackloop.settings import SHARED_FIELDS, SHARED_PREFIX, ServiceSettings
from services.followup.config import Settings as FollowupSettings
from services.intake.config import Settings as IntakeSettings
from services.metrics.config import Settings as MetricsSettings
from services.router.config import Settings as RouterSettings
from services.signals.config import Settings as SignalsSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
OVERRIDE_EXAMPLE = DEPLOY / "compose.override.example.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"

SERVICE_SETTINGS: dict[str, type[BaseSettings]] = {
    "intake": IntakeSettings,
    "router": RouterSettings,
    "followup": FollowupSettings,
    "metrics": MetricsSettings,
    "signals": SignalsSettings,
}
#: The settings each non-serving command reads besides its own options' environment variables.
COMMAND_SETTINGS: dict[tuple[str, ...], tuple[type[BaseSettings], ...]] = {
    ("router", "train"): (RouterSettings, StackSettings),
    ("kafka", "create-topics"): (StackSettings,),
}
#: Values for the variables compose.yaml requires (`${VAR:?...}`): none of them is a real secret.
DUMMY_ENV = {
    "POSTGRES_PASSWORD": "dummy0password",
    "FEEDBACKLOOP_CONTACT_KEY": "ZHVtbXkta2V5LWZvci10aGUtY29tcG9zZS1jaGVjay0=",
    "FEEDBACKLOOP_FOLLOWUP_SURVEY_SECRET": "dummy-survey-secret-for-the-check",
    "FEEDBACKLOOP_STATUS_LINK_KEY": "dummy-status-link-key-for-the-check",
    "FEEDBACKLOOP_FOLLOWUP_SESSION_SECRET": "dummy-session-secret-for-the-check",
    "FEEDBACKLOOP_ROUTER_OPERATOR_TOKEN": "dummy-operator-token-for-the-check",
    "FEEDBACKLOOP_INTAKE_WECHAT_TOKEN": "dummy-wechat-token",
    "GRAFANA_ADMIN_PASSWORD": "dummy-grafana-password",
}
#: And for those of compose.override.example.yaml.
DUMMY_OVERRIDE_ENV = {
    "FEEDBACKLOOP_INTAKE_WECHAT_APP_ID": "wx1234567890abcdef",
    "FEEDBACKLOOP_INTAKE_WECHAT_ENCODING_AES_KEY": "a" * 43,
    "FEEDBACKLOOP_FOLLOWUP_WECHAT_APP_ID": "wx1234567890abcdef",
    "FEEDBACKLOOP_FOLLOWUP_WECHAT_APP_SECRET": "dummy-app-secret",
    "FEEDBACKLOOP_FOLLOWUP_WECHAT_TEMPLATE_ID": "dummy-template",
    "FEEDBACKLOOP_FOLLOWUP_SMS_GATEWAY_URL": "http://sms.invalid/send",
    "FEEDBACKLOOP_FOLLOWUP_SMS_API_KEY": "dummy-sms-key",
}
#: Settings that hold secrets: compose must take each from the environment, never a literal.
SECRET_SETTINGS = {
    "FEEDBACKLOOP_CONTACT_KEY",
    "FEEDBACKLOOP_FOLLOWUP_SURVEY_SECRET",
    "FEEDBACKLOOP_STATUS_LINK_KEY",
    "FEEDBACKLOOP_FOLLOWUP_SESSION_SECRET",
    "FEEDBACKLOOP_ROUTER_OPERATOR_TOKEN",
    "FEEDBACKLOOP_INTAKE_WECHAT_TOKEN",
    "FEEDBACKLOOP_INTAKE_WECHAT_ENCODING_AES_KEY",
    "FEEDBACKLOOP_FOLLOWUP_WECHAT_APP_SECRET",
    "FEEDBACKLOOP_FOLLOWUP_SMS_API_KEY",
    "POSTGRES_PASSWORD",
    "GF_SECURITY_ADMIN_PASSWORD",
}
#: Variables a developer's shell may hold that must not leak into the checks.
_OWN_VARIABLES = re.compile(
    r"^(FEEDBACKLOOP_|POSTGRES_|GRAFANA_|COMPOSE_|PUBLISH_ADDRESS$|PUBLIC_BASE_URL$|DATA_DIR$"
    r"|KAFKA_HOST_PORT$)"
)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# --- helpers ---------------------------------------------------------------------------------


def _docker_compose() -> str:
    """docker-compose's path; a missing one fails the test (`make test` installs it)."""
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "docker-compose is not on PATH: install Debian's package `docker-compose` "
            "(scripts/ensure-debian-packages.sh docker-compose=docker-compose)"
        )
    return path


def _write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{key}='{value}'\n" for key, value in values.items()))
    return path


def _compose_config(env_file: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    """`docker-compose --env-file ENV -f FILE... config`, in deploy/ like a user would run it."""
    environ = {k: v for k, v in os.environ.items() if not _OWN_VARIABLES.match(k)}
    args = [_docker_compose(), "--env-file", str(env_file)]
    for file in files or (COMPOSE,):
        args += ["-f", str(file)]
    return subprocess.run(
        [*args, "config"],
        cwd=DEPLOY,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` in every string of a value."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        present = env.get(name, "")
        if operator == ":-":
            return present or argument
        if operator == "-":
            return env.get(name, argument)
        if operator in (":?", "?") and not present:
            raise KeyError(f"{name}: {argument}")
        return present

    return _VARIABLE.sub(one, value)


def load_compose(*files: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose files merged as compose does for these checks, with the variables filled in."""
    merged: dict[str, Any] = {}
    for file in files or (COMPOSE,):
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        for name, service in data.get("services", {}).items():
            target = merged.setdefault("services", {}).setdefault(name, {})
            for key, value in service.items():
                if isinstance(value, dict) and isinstance(target.get(key), dict):
                    target[key] = {**target[key], **value}
                else:
                    target[key] = value
        for key, value in data.items():
            if key != "services":
                merged[key] = value
    return interpolate(merged, DUMMY_ENV | DUMMY_OVERRIDE_ENV if env is None else env)


def feedbackloop_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the feedbackloop image."""
    return {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith("feedbackloop:")
    }


def served(service: dict[str, Any]) -> str | None:
    """The SERVICE of a `serve SERVICE` command."""
    command = service["command"]
    return command[1] if command[0] == "serve" else None


def leaf_command(args: list[str]) -> tuple[tuple[str, ...], Any, list[str]]:
    """The `feedbackloop` subcommand that the arguments name, its path and its own arguments."""
    # Typer's groups are click groups (of the click that Typer may bundle): they have `commands`.
    command: Any = typer.main.get_command(cli.app)
    path: list[str] = []
    rest = list(args)
    while hasattr(command, "commands"):
        assert rest, f"{args}: names a command group, not a command"
        sub = command.commands.get(rest[0])
        assert sub is not None, f"`feedbackloop {' '.join(args)}`: no command {rest[0]!r}"
        path.append(rest.pop(0))
        command = sub
    return tuple(path), command, rest


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (pydantic-settings' rules)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
        if issubclass(settings, ServiceSettings) and field_name in SHARED_FIELDS:
            names.add(f"{SHARED_PREFIX}{field_name}".upper())
    return names


def listening_port(service: dict[str, Any]) -> int:
    """The port a `serve` service listens on in its container."""
    name = served(service)
    assert name is not None
    variable = f"FEEDBACKLOOP_{name.upper()}_PORT"
    default = SERVICE_SETTINGS[name].model_fields["port"].default
    return int(service.get("environment", {}).get(variable, default))


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path, container path) of the service's bind mounts, relative to deploy/."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append(((DEPLOY / source).resolve(), target))
    return mounts


def host_path_of(service: dict[str, Any], container_path: str) -> Path:
    """Where a file the container reads comes from on the host (through its bind mounts)."""
    for source, target in bind_mounts(service):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / Path(container_path).relative_to(target)
    raise AssertionError(f"{container_path} is not inside a bind mount")


# --- docker-compose ----------------------------------------------------------------------------


def test_docker_compose_config_accepts_the_files(tmp_path: Path) -> None:
    env_file = _write_env(tmp_path / "env", DUMMY_ENV | DUMMY_OVERRIDE_ENV)
    for files in [(COMPOSE,), (COMPOSE, OVERRIDE_EXAMPLE)]:
        result = _compose_config(env_file, *files)
        output = f"$ docker-compose config ({', '.join(f.name for f in files)})\n"
        output += result.stdout + result.stderr
        assert result.returncode == 0, output
        resolved = yaml.safe_load(result.stdout)
        assert set(resolved["services"]) == set(load_compose(*files)["services"])
        # Python's reading of the files (used by the checks below) agrees with compose's.
        ours = load_compose(*files)["services"]
        for name, service in resolved["services"].items():
            theirs = {k: str(v) for k, v in (service.get("environment") or {}).items()}
            mine = {k: str(v) for k, v in (ours[name].get("environment") or {}).items()}
            assert theirs == mine, name
            assert service.get("command") == ours[name].get("command"), name


@pytest.mark.parametrize("secret", sorted(DUMMY_ENV))
def test_docker_compose_refuses_to_run_without_each_secret(tmp_path: Path, secret: str) -> None:
    env_file = _write_env(tmp_path / "env", {k: v for k, v in DUMMY_ENV.items() if k != secret})
    result = _compose_config(env_file)
    assert result.returncode != 0, f"compose.yaml works without {secret}"
    assert secret in result.stderr and "deploy/.env" in result.stderr, result.stderr


def test_the_env_example_has_no_values_for_secrets() -> None:
    # Used as it is, the example stops compose: it has placeholders, never usable secrets.
    result = _compose_config(ENV_EXAMPLE)
    assert result.returncode != 0
    assert "Missing mandatory value" in result.stderr, result.stderr


# --- what compose.yaml names exists --------------------------------------------------------


def test_every_feedbackloop_command_is_a_real_subcommand() -> None:
    services = feedbackloop_services(load_compose(COMPOSE, OVERRIDE_EXAMPLE))
    assert {served(s) for s in services.values()} >= set(SERVICE_SETTINGS)
    for name, service in services.items():
        command = service["command"]
        assert isinstance(command, list), f"{name}: give the command as a list"
        path, leaf, rest = leaf_command(command)
        # Parses the options and arguments as `feedbackloop` would, without running anything.
        leaf.make_context(" ".join(["feedbackloop", *path]), list(rest))


def test_every_environment_variable_is_a_setting_of_its_service() -> None:
    services = feedbackloop_services(load_compose(COMPOSE, OVERRIDE_EXAMPLE))
    for name, service in services.items():
        path, leaf, _ = leaf_command(service["command"])
        if path == ("serve",):
            classes: tuple[type[BaseSettings], ...] = (SERVICE_SETTINGS[service["command"][1]],)
        else:
            classes = COMMAND_SETTINGS[path]
        known = set().union(*(env_names(c) for c in classes))
        known |= {str(p.envvar).upper() for p in leaf.params if p.envvar}
        unknown = {key for key in service.get("environment", {}) if key.upper() not in known}
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of {classes}"


def test_the_build_and_every_bind_mount_exist() -> None:
    compose = load_compose(COMPOSE, OVERRIDE_EXAMPLE)
    for name, service in feedbackloop_services(compose).items():
        build = service["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert context == ROOT, name
        assert (context / build["dockerfile"]).is_file(), name
    for name, service in compose["services"].items():
        for source, target in bind_mounts(service):
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
            if target != "/data":
                assert source.is_relative_to(ROOT), f"{name}: {source} is outside the repository"


def test_the_citizen_data_is_mounted_read_only_never_built_in() -> None:
    compose = load_compose()
    services = compose["services"]
    for name in ("router-train", "intake"):
        volume = next(v for v in services[name]["volumes"] if v.split(":")[1] == "/data")
        assert volume.endswith(":ro"), name
        data = host_path_of(services[name], "/data")
        assert data == (ROOT.parent / "shared" / "data").resolve(), data
    train = services["router-train"]
    assert {"train.csv", "dev.csv"} <= {p.name for p in host_path_of(train, "/data").iterdir()}
    taxonomy = services["intake"]["environment"]["FEEDBACKLOOP_INTAKE_TAXONOMY_PATH"]
    assert host_path_of(services["intake"], taxonomy).is_file()


def test_the_router_reads_the_model_that_router_train_writes() -> None:
    services = load_compose()["services"]
    train, router = services["router-train"], services["router"]
    model_dir = router["environment"]["FEEDBACKLOOP_ROUTER_MODEL_DIR"]
    command = train["command"]
    assert command[command.index("--out") + 1] == model_dir
    assert f"router-model:{model_dir}:ro" in router["volumes"]
    assert f"router-model:{model_dir}" in train["volumes"]
    assert "router-model" in load_compose()["volumes"]
    assert router["depends_on"]["router-train"] == {"condition": "service_completed_successfully"}
    assert train["command"][:2] == ["router", "train"] and "--if-missing" in train["command"]


def test_each_store_has_its_own_postgresql_database() -> None:
    services = load_compose()["services"]
    postgres = services["postgres"]["environment"]
    init = DEPLOY / "postgres" / "init" / "10-databases.sql"
    created = set(re.findall(r"CREATE DATABASE (\w+);", init.read_text(encoding="utf-8")))
    databases = {}
    for name, settings in SERVICE_SETTINGS.items():
        if "database_url" not in settings.model_fields:
            continue
        url = services[name]["environment"][f"FEEDBACKLOOP_{name.upper()}_DATABASE_URL"]
        parts = urlsplit(url)
        assert parts.scheme == "postgresql+psycopg", name
        assert parts.hostname == "postgres" and parts.port == 5432, name
        assert parts.username == postgres["POSTGRES_USER"], name
        assert parts.password == postgres["POSTGRES_PASSWORD"] == DUMMY_ENV["POSTGRES_PASSWORD"]
        databases[name] = parts.path.lstrip("/")
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert set(databases) == {"intake", "router", "followup"}
    assert len(set(databases.values())) == len(databases), databases
    assert set(databases.values()) == created


def test_topics_have_enough_partitions_for_two_workers_of_a_group() -> None:
    services = load_compose()["services"]
    assert int(services["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"]) >= 6
    for name, service in feedbackloop_services(load_compose()).items():
        command = service["command"]
        if (command[0] == "serve" and command[1] != "intake") or command[0] == "kafka":
            partitions = service["environment"]["FEEDBACKLOOP_TOPIC_PARTITIONS"]
            assert int(partitions) >= 6, name
    # The topics service creates the core topics; every service waits until it has.
    assert services["topics"]["command"][:2] == ["kafka", "create-topics"]
    for name in SERVICE_SETTINGS:
        assert services[name]["depends_on"]["topics"] == {
            "condition": "service_completed_successfully"
        }


def test_services_reach_kafka_on_its_internal_listener() -> None:
    services = load_compose()["services"]
    kafka = services["kafka"]["environment"]
    advertised = dict(item.split("://") for item in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert kafka["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    internal = advertised[kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert internal.split(":")[0] == "kafka"
    for name, service in feedbackloop_services(load_compose()).items():
        command = service["command"]
        if command[0] == "serve":
            assert service["environment"]["FEEDBACKLOOP_KAFKA_BOOTSTRAP"] == internal, name
    assert services["topics"]["command"][-2:] == ["--bootstrap", internal]


def test_the_kafka_image_is_the_version_the_tests_run() -> None:
    pom = (DEPLOY / "kafka" / "pom.xml").read_text(encoding="utf-8")
    version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert version is not None
    assert load_compose()["services"]["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def test_every_service_has_a_health_check_on_its_healthz() -> None:
    for name, service in feedbackloop_services(load_compose()).items():
        check = service["healthcheck"]
        if served(service) is None:
            assert check == {"disable": True}, f"{name} is a one-shot: nothing to check"
            assert service["restart"] == "no", name
            continue
        assert check["test"] == ["CMD", "python", "/opt/feedbackloop/healthcheck.py", name]
        assert service["restart"] == "unless-stopped", name
    for name in ("kafka", "postgres", "prometheus", "grafana"):
        assert "test" in load_compose()["services"][name]["healthcheck"], name


# --- secrets and ports -------------------------------------------------------------------------


def test_secrets_come_only_from_the_environment_and_are_required() -> None:
    for file in (COMPOSE, OVERRIDE_EXAMPLE):
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        for name, service in raw["services"].items():
            for key, value in (service.get("environment") or {}).items():
                if key in SECRET_SETTINGS:
                    assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", str(value)), (
                        f"{file.name}: {name}.{key} must be ${{VAR:?message}}, not {value!r}"
                    )
                if "DATABASE_URL" in key:
                    assert "${POSTGRES_PASSWORD:?" in str(value), f"{name}.{key}"


def test_the_env_example_names_every_variable_with_placeholders_only() -> None:
    text = "\n".join(f.read_text(encoding="utf-8") for f in (COMPOSE, OVERRIDE_EXAMPLE))
    used = {match.group(1) for match in _VARIABLE.finditer(text)}
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    set_ = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z0-9_]+=", line))
    commented = {line[1:].split("=", 1)[0] for line in lines if re.match(r"^#[A-Z0-9_]+=", line)}
    missing = used - set(set_) - commented
    assert not missing, f".env.example does not mention {sorted(missing)}"
    required = {m.group(1) for m in _VARIABLE.finditer(text) if m.group(2) == ":?"}
    for name in required:
        assert set_.get(name, "") == "", f".env.example must leave {name} empty"
    assert set_.keys() - required <= {"COMPOSE_PROJECT_NAME"}, set_.keys() - required


def test_ports_are_published_on_loopback_by_default() -> None:
    compose = load_compose()
    published = 0
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"
            published += 1
    assert published >= 7
    # Replicas of router and metrics (`--scale`) cannot share a fixed host port.
    for name in ("router", "metrics"):
        (port,) = compose["services"][name]["ports"]
        assert re.fullmatch(r"127\.0\.0\.1::\d+", port), port
    # PUBLISH_ADDRESS moves every port but the broker's (which advertises 127.0.0.1).
    moved = load_compose(env=DUMMY_ENV | {"PUBLISH_ADDRESS": "0.0.0.0"})
    for name, service in moved["services"].items():
        for port in service.get("ports", []):
            expected = "127.0.0.1:" if name == "kafka" else "0.0.0.0:"
            assert port.startswith(expected), f"{name}: {port}"


def test_every_service_trusts_the_proxies_of_the_env_and_none_by_default() -> None:
    for env, expected in [
        (DUMMY_ENV, []),
        (DUMMY_ENV | {"FEEDBACKLOOP_TRUSTED_PROXIES": "172.16.0.0/12"}, ["172.16.0.0/12"]),
    ]:
        services = feedbackloop_services(load_compose(env=env))
        served_here = {served(s): s for s in services.values() if served(s)}
        assert set(served_here) == set(SERVICE_SETTINGS)
        for name, service in served_here.items():
            value = service["environment"]["FEEDBACKLOOP_TRUSTED_PROXIES"]
            settings = SERVICE_SETTINGS[name].model_validate({"trusted_proxies": value})
            assert settings.model_dump()["trusted_proxies"] == expected, name


# --- Prometheus and Grafana --------------------------------------------------------------------


def _prometheus() -> tuple[dict[str, Any], dict[str, Any]]:
    """The prometheus service and the configuration file it is started with."""
    service = load_compose()["services"]["prometheus"]
    flag = next(a for a in service["command"] if a.startswith("--config.file="))
    config = host_path_of(service, flag.split("=", 1)[1])
    return service, yaml.safe_load(config.read_text(encoding="utf-8"))


def test_prometheus_scrapes_every_replica_of_the_four_services() -> None:
    compose = load_compose()
    service, config = _prometheus()
    by_service = {served(s): s for s in feedbackloop_services(compose).values() if served(s)}
    local = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {job["job_name"] for job in local["scrape_configs"]} == set(by_service)
    for name, job in jobs.items():
        (dns,) = job["dns_sd_configs"]
        assert dns["type"] == "A" and dns["names"] == [name], name
        assert name in compose["services"], f"{name} is not a compose service"
        assert dns["port"] == listening_port(by_service[name]), name
    flag = next(a for a in service["command"] if a.startswith("--config.file="))
    folder = host_path_of(service, flag.split("=", 1)[1]).parent
    assert config["rule_files"] == ["alerts.yml"]
    assert (folder / "alerts.yml").is_file()


def test_promtool_accepts_the_compose_configuration() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH: install Debian's package `prometheus`")
    config = "deploy/prometheus/prometheus.compose.yml"
    result = subprocess.run(
        [promtool, "check", "config", config],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_is_provisioned_from_the_repository() -> None:
    compose = load_compose()
    grafana = compose["services"]["grafana"]
    mounts = {target: source for source, target in bind_mounts(grafana)}
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert mounts["/etc/grafana/provisioning"] == provisioning
    providers = yaml.safe_load((provisioning / "dashboards" / "feedbackloop.yml").read_text())
    (provider,) = providers["providers"]
    assert mounts[provider["options"]["path"]] == DEPLOY / "grafana" / "dashboards"
    assert list((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    url = urlsplit(source["url"])
    assert url.hostname in compose["services"], url
    prometheus, _ = _prometheus()
    listen = next(a for a in prometheus["command"] if a.startswith("--web.listen-address="))
    assert url.port == int(listen.rsplit(":", 1)[1])
    password = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password == DUMMY_ENV["GRAFANA_ADMIN_PASSWORD"]
