"""Drive the scenarios: probe and warm up each server, then alternate them under wrk.

Both servers stay up for the whole run (RSS is compared between warm-up and the end), but
only one is driven at a time. The order alternates per scenario and per repetition, so that
neither side always runs first on a machine whose speed drifts.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchkit import wrk
from benchkit.console import say
from benchkit.fixtures import Fixtures
from benchkit.profiling import cpu_seconds
from benchkit.scenarios import LOGIN, STORM, Scenario, storm_of
from benchkit.servers import Server, rss_mib
from benchkit.wrk import WrkJob, WrkResult

STORM_LEAD_SECONDS = 1.0  # the storm starts this long before the measured GETs, ends after


@dataclass(frozen=True)
class Options:
    duration_s: float
    connections: int
    repetitions: int
    warmup_s: float
    login_connections: int
    pause_s: float


@dataclass
class Side:
    """One server under test, with what the scenarios need from it."""

    server: Server
    refresh_fixtures: Callable[[], Fixtures]
    fixtures: Fixtures | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # scenario -> why
    rss_warm: dict[int, float] = field(default_factory=dict)  # worker pid -> MiB
    rss_end: dict[int, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.server.name

    def current_fixtures(self) -> Fixtures:
        if self.fixtures is None:
            self.fixtures = self.refresh_fixtures()
        return self.fixtures


@dataclass
class Results:
    """Every wrk summary: server -> scenario -> one per repetition."""

    runs: dict[str, dict[str, list[WrkResult]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    # server -> scenario -> the workers' CPU time per request, µs, one per repetition: what a
    # request costs the server, whatever else loads the machine (wall-clock rates do not).
    cpu_us: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )

    def add(self, server: str, scenario: str, result: WrkResult) -> None:
        self.runs[server][scenario].append(result)

    def of(self, server: str, scenario: str) -> list[WrkResult]:
        return list(self.runs.get(server, {}).get(scenario, []))


def worker_rss(server: Server) -> dict[int, float]:
    sizes = {pid: rss_mib(pid) for pid in server.worker_pids()}
    return {pid: mib for pid, mib in sizes.items() if mib is not None}


class Runner:
    def __init__(
        self,
        wrk_path: str,
        scripts: Mapping[str, Path],
        scenarios: Sequence[Scenario],
        options: Options,
    ) -> None:
        self.wrk_path = wrk_path
        self.scripts = scripts
        self.scenarios = list(scenarios)
        self.options = options
        self.results = Results()

    # ----------------------------------------------------------------- warm-up

    def warm_up(self, side: Side) -> None:
        """Probe every scenario once (skip those that do not answer 2xx), warm the rest."""
        fixtures = side.current_fixtures()
        for scenario in self.scenarios:
            reason = self._probe(side, scenario, fixtures)
            if reason is not None:
                side.skipped[scenario.name] = reason
                say(f"  {side.name}: skipping {scenario.name}: {reason}")
            elif scenario.kind not in ("login", "storm", "attack") and self.options.warmup_s > 0:
                # A login probe already ran bcrypt once; the storm reuses products.
                self._run(side, scenario, fixtures, self.options.warmup_s, "warmup")
        side.rss_warm = worker_rss(side.server)

    def _probe(self, side: Side, scenario: Scenario, fixtures: Fixtures) -> str | None:
        probes = [LOGIN, scenario] if scenario.name == STORM else [scenario]
        with httpx.Client(timeout=30) as client:
            for probe in probes:
                response = probe.probe(client, side.server.url, fixtures)
                expected = probe.expected_status
                if not (response.status_code == expected if expected else response.is_success):
                    answer = f"{response.status_code} {response.text[:200]}"
                    return f"{probe.method} {probe.path} answered {answer}"
        return None

    # ------------------------------------------------------------- measurement

    def measure(self, sides: Sequence[Side]) -> None:
        for repetition in range(self.options.repetitions):
            for side in sides:  # fresh tokens: a full run outlives a 15-minute access token
                side.fixtures = side.refresh_fixtures()
            for index, scenario in enumerate(self.scenarios):
                order = list(sides) if (repetition + index) % 2 == 0 else list(reversed(sides))
                for side in order:
                    if scenario.name not in side.skipped:
                        self._measure_one(side, scenario, repetition)

    def _measure_one(self, side: Side, scenario: Scenario, repetition: int) -> None:
        label = f"{side.name}/{scenario.name}/{repetition + 1}"
        fixtures = side.current_fixtures()
        if scenario.kind in ("storm", "attack"):
            result, storm, storm_key = self._storm(side, scenario, fixtures, label)
            self.results.add(side.name, storm_key, storm)
        else:
            workers = side.server.worker_pids()
            cpu_before = cpu_seconds(workers)
            result = self._run(side, scenario, fixtures, self.options.duration_s, label)
            per_request = (cpu_seconds(workers) - cpu_before) / max(result.requests, 1)
            self.results.cpu_us[side.name][scenario.name].append(per_request * 1e6)
        self.results.add(side.name, scenario.name, result)
        errors = result.err_status + result.socket_errors
        say(
            f"  {label:<28} {result.rps:>9.1f} rps  p50 {result.p50_ms:7.2f} ms  "
            f"p99 {result.p99_ms:8.2f} ms  errors {errors}"
        )
        time.sleep(self.options.pause_s)

    def _job(
        self,
        side: Side,
        scenario: Scenario,
        fixtures: Fixtures,
        duration_s: float,
        label: str,
        connections: int | None = None,
    ) -> WrkJob:
        return scenario.job(
            side.server.url,
            fixtures,
            self.scripts,
            duration_s=duration_s,
            connections=connections or self.options.connections,
            label=label,
        )

    def run_once(self, side: Side, scenario: Scenario, duration_s: float, label: str) -> WrkResult:
        """One wrk run of a scenario, outside the measurement (e.g. under a profiler)."""
        return self._run(side, scenario, side.current_fixtures(), duration_s, label)

    def _run(
        self, side: Side, scenario: Scenario, fixtures: Fixtures, duration_s: float, label: str
    ) -> WrkResult:
        connections = self.options.login_connections if scenario.kind == "login" else None
        job = self._job(side, scenario, fixtures, duration_s, label, connections)
        return wrk.run(self.wrk_path, job)

    def _storm(
        self, side: Side, scenario: Scenario, fixtures: Fixtures, label: str
    ) -> tuple[WrkResult, WrkResult, str]:
        """A read measured while a second wrk keeps logging in (bcrypt cost 12): the storm's
        result, and the key it is recorded under, come back beside the read's."""
        storm_s = self.options.duration_s + 2 * STORM_LEAD_SECONDS
        logins, storm_key = storm_of(scenario)
        login_job = self._job(
            side, logins, fixtures, storm_s, f"{label}/login", self.options.login_connections
        )
        storm = wrk.start(self.wrk_path, login_job)
        try:
            time.sleep(STORM_LEAD_SECONDS)
            measured = self._run(side, scenario, fixtures, self.options.duration_s, label)
        except BaseException:
            storm.kill()
            storm.wait()
            raise
        return measured, wrk.finish(storm, login_job), storm_key
