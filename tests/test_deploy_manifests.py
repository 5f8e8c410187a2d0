"""The Kubernetes manifests under deploy/ agree with the program: every command they run
exists, the probes answer, the ConfigMap names real settings that validate in production, the
grace period covers the shutdown, and what the app writes is on a writable volume.
(`kubernetes-validate` checks them against the Kubernetes schemas in CI.)"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from httpx import AsyncClient
from opentelemetry import environment_variables as otel_api_variables
from opentelemetry.sdk import environment_variables as otel_sdk_variables

from storefront.cli import build_parser
from storefront.core.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def manifests() -> dict[str, dict[str, Any]]:
    documents = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            documents[f"{document['kind']}/{document['metadata']['name']}"] = document
    return documents


def pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    spec = document.get("spec", {})
    if document["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec.get("template")
    return None if template is None else template["spec"]


def containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for name, document in manifests().items():
        spec = pod_spec(document)
        for container in spec["containers"] if spec else ():
            found.append((f"{name}/{container['name']}", container, spec))
    return found


def configmap() -> dict[str, str]:
    data: dict[str, str] = manifests()["ConfigMap/storefront-config"]["data"]
    return data


def test_the_manifests_hold_the_deployment_the_migrate_job_and_the_purge_cronjob() -> None:
    kinds = sorted(name.split("/")[0] for name in manifests())
    assert kinds == [
        "ConfigMap",
        "CronJob",
        "Deployment",
        "Job",
        "PodDisruptionBudget",
        "Service",
    ]


def run_commands() -> list[tuple[str, list[str]]]:
    commands = []
    for name, container, _ in containers():
        commands.append((name, container["command"]))
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec")
        if pre_stop:
            commands.append((f"{name}/preStop", pre_stop["command"]))
    return commands


@pytest.mark.parametrize(("where", "command"), run_commands())
def test_every_command_they_run_exists(where: str, command: list[str]) -> None:
    program, *args = command
    if program == "storefront":
        build_parser().parse_args(args)  # exits 2 on an unknown command or option
    elif program == "alembic":
        assert args == ["upgrade", "head"], where
    elif program == "python":
        assert args[0] == "-c", where
        ast.parse(args[1])
    else:
        pytest.fail(f"{where} runs {shlex.join(command)}, which no test knows")


async def test_the_probes_answer(client: AsyncClient) -> None:
    paths = {
        probe["httpGet"]["path"]
        for _, container, _ in containers()
        for key in ("startupProbe", "livenessProbe", "readinessProbe")
        if (probe := container.get(key))
    }

    assert paths == {"/health/live", "/health/ready"}
    for path in sorted(paths):
        assert (await client.get(path)).status_code == 200, path


def test_the_configmap_names_real_settings_that_hold_in_production() -> None:
    settings: dict[str, str] = {}
    for key, value in configmap().items():
        if key.startswith("STOREFRONT_"):
            field = key.removeprefix("STOREFRONT_").lower()
            assert field in Settings.model_fields, key
            settings[field] = value
        else:
            assert hasattr(otel_sdk_variables, key) or hasattr(otel_api_variables, key), key

    # The Secret's two values, as stand-ins.
    loaded = Settings(
        _env_file=None,  # type: ignore[call-arg]
        secret_key="s" * 48,
        database_url="postgresql+asyncpg://storefront:secret@pgbouncer:6432/storefront",
        **settings,
    )

    assert loaded.is_production
    assert loaded.db_transaction_pooler


def test_the_grace_period_covers_the_pause_and_the_drain() -> None:
    deployment = manifests()["Deployment/storefront"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    (api,) = deployment["spec"]["template"]["spec"]["containers"]
    pause_program = api["lifecycle"]["preStop"]["exec"]["command"][2]
    pause = float(pause_program.split("sleep(")[1].rstrip(")"))
    drain = int(configmap()["STOREFRONT_GRACEFUL_SHUTDOWN_SECONDS"])

    assert grace > pause + drain


def test_what_the_api_writes_is_on_a_writable_volume() -> None:
    for name, container, spec in containers():
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        env = {item["name"]: item["value"] for item in container.get("env", ())}
        if "PROMETHEUS_MULTIPROC_DIR" in env:
            mounts = [mount["mountPath"] for mount in container["volumeMounts"]]
            assert any(env["PROMETHEUS_MULTIPROC_DIR"].startswith(m + "/") for m in mounts), name
