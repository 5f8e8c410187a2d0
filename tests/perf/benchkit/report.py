"""The report: one markdown table, RSS per worker, the storm ratios, issue 10's targets."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchkit.runner import Results, Side
from benchkit.scenarios import ATTACKED, STORM, STORM_LOGIN, Scenario, storm_of
from benchkit.wrk import WrkResult

STOREFRONT = "storefront"
BASELINE = "baseline"
READ_SCENARIOS = ("users_me", "order", "orders", "products")
# Issue 10's targets: ratios to the baseline in one run, unless said otherwise.
MIN_READ_RPS, MAX_READ_P99 = 0.4, 3.0
MIN_WRITE_RPS = 0.4
MIN_HEALTH_RPS = 0.35
MIN_LOGINS_BESIDE_READS = 0.7  # logins/s during the storm, against the baseline's
MAX_STORM_P99 = 2.0  # a read's p99 during a storm against its p99 alone (same server)
MAX_RSS_GROWTH = 1.1


@dataclass(frozen=True)
class Stats:
    """One scenario on one server, over its repetitions (latencies: median of the runs)."""

    runs: int
    rps: float
    rps_min: float
    rps_max: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @classmethod
    def of(cls, results: Sequence[WrkResult]) -> Stats | None:
        if not results:
            return None
        rps = [r.rps for r in results]
        return cls(
            runs=len(results),
            rps=statistics.median(rps),
            rps_min=min(rps),
            rps_max=max(rps),
            p50_ms=statistics.median(r.p50_ms for r in results),
            p99_ms=statistics.median(r.p99_ms for r in results),
            non_2xx=sum(r.err_status for r in results),
            socket_errors=sum(r.socket_errors for r in results),
        )


@dataclass(frozen=True)
class Target:
    status: str  # PASS / FAIL / SKIP
    text: str

    def line(self) -> str:
        return f"{self.status}  {self.text}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


class Report:
    def __init__(
        self,
        results: Results,
        sides: Mapping[str, Side],
        scenarios: Sequence[Scenario],
        login_connections: int,
    ) -> None:
        self.results = results
        self.sides = sides
        self.scenarios = list(scenarios)
        self.login_connections = login_connections

    def stats(self, server: str, scenario: str) -> Stats | None:
        return Stats.of(self.results.of(server, scenario))

    def _ratio(self, field: str, top: tuple[str, str], bottom: tuple[str, str]) -> float | None:
        """`field` of the (server, scenario) `top` divided by that of `bottom`."""
        numerator, denominator = self.stats(*top), self.stats(*bottom)
        if numerator is None or denominator is None:
            return None
        return ratio(getattr(numerator, field), getattr(denominator, field))

    def rps_ratio(self, scenario: str) -> float | None:
        return self._ratio("rps", (STOREFRONT, scenario), (BASELINE, scenario))

    def p99_ratio(self, scenario: str) -> float | None:
        return self._ratio("p99_ms", (STOREFRONT, scenario), (BASELINE, scenario))

    def storm_ratio(self, server: str, scenario: str = STORM) -> float | None:
        """p99 of a read during a storm divided by its p99 alone."""
        alone = ATTACKED.get(scenario, "products")
        return self._ratio("p99_ms", (server, scenario), (server, alone))

    # ------------------------------------------------------------------ table

    def _rows(self) -> list[tuple[str, str]]:
        """(result key, title) of every table row; login runs say their connection count."""
        logins = f"{self.login_connections} connections"
        rows = []
        for scenario in self.scenarios:
            if scenario.kind == "login":
                rows.append((scenario.name, f"{scenario.title}, {logins}"))
            else:
                rows.append((scenario.name, scenario.title))
            if scenario.kind in ("storm", "attack"):
                storm, key = storm_of(scenario)
                beside = "it" if scenario.kind == "storm" else ATTACKED[scenario.name]
                rows.append((key, f"{storm.title} beside {beside}, {logins}"))
        return rows

    def _cells(self, name: str, server: str) -> list[str]:
        stats = self.stats(server, name)
        if stats is None:
            reason = (
                self.sides[server].skipped.get(name, "not run")
                if server in self.sides
                else "not run"
            )
            return [f"skipped: {_one_line(reason)}", "-", "-", "-"]
        errors = str(stats.non_2xx)
        if stats.socket_errors:
            errors += f" (+{stats.socket_errors} socket errors/timeouts)"
        return [
            f"{stats.rps:,.1f} ({stats.rps_min:,.1f}-{stats.rps_max:,.1f})",
            f"{stats.p50_ms:.2f}",
            f"{stats.p99_ms:.2f}",
            errors,
        ]

    def cpu_us(self, server: str, scenario: str) -> float | None:
        """Median CPU time of the server's workers per request (µs), None if not measured."""
        values = self.results.cpu_us.get(server, {}).get(scenario, [])
        return statistics.median(values) if values else None

    def table(self) -> str:
        lines = [
            "| scenario | server | req/s median (min-max) | p50 ms | p99 ms | non-2xx "
            "| req/s / baseline | p99 / baseline | server CPU µs/req |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, title in self._rows():
            for server in (STOREFRONT, BASELINE):
                if server not in self.sides:
                    continue
                ratios = ["", ""]
                if server == STOREFRONT and BASELINE in self.sides:
                    ratios = [_times(self.rps_ratio(name)), _times(self.p99_ratio(name))]
                cpu = self.cpu_us(server, name)
                cells = [f"`{title}`", server, *self._cells(name, server), *ratios]
                cells.append("-" if cpu is None else f"{cpu:,.0f}")
                lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def rss_table(self) -> str:
        lines = [
            "| server | worker pid | RSS after warm-up MiB | RSS after the run MiB "
            "| after / warm-up |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, side in self.sides.items():
            for pid in sorted(set(side.rss_warm) | set(side.rss_end)):
                warm, end = side.rss_warm.get(pid), side.rss_end.get(pid)
                cells = [name, str(pid), _mib(warm), _mib(end), _times(ratio(end, warm))]
                lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def storm_lines(self) -> list[str]:
        lines = []
        for scenario in (STORM, *ATTACKED):
            for server in self.sides:
                during = self.stats(server, scenario)
                alone = self.stats(server, ATTACKED.get(scenario, "products"))
                if during and alone:
                    lines.append(
                        f"- {server}: p99 of `{self._title(scenario)}` "
                        f"{during.p99_ms:.2f} ms vs {alone.p99_ms:.2f} ms alone = "
                        f"{_times(self.storm_ratio(server, scenario))}"
                    )
        return lines

    def _title(self, name: str) -> str:
        return next((title for key, title in self._rows() if key == name), name)

    # ---------------------------------------------------------------- targets

    def targets(self) -> list[Target]:
        targets = [self._read_target(name) for name in READ_SCENARIOS]
        targets.append(self._rps_target("post_order", MIN_WRITE_RPS))
        targets.append(self._rps_target("health", MIN_HEALTH_RPS))
        targets.append(self._rps_target(STORM_LOGIN, MIN_LOGINS_BESIDE_READS))
        targets.append(self._storm_target(STORM))
        targets += [self._storm_target(name) for name in ATTACKED]
        targets.append(self._memory_target())
        targets.append(self._errors_target())
        return targets

    def _read_target(self, name: str) -> Target:
        rps, p99 = self.rps_ratio(name), self.p99_ratio(name)
        text = f"{name}: req/s >= {MIN_READ_RPS}x baseline, p99 <= {MAX_READ_P99}x baseline"
        if rps is None or p99 is None:
            return Target("SKIP", f"{text} (not measured on both sides)")
        ok = rps >= MIN_READ_RPS and p99 <= MAX_READ_P99
        return Target(_status(ok), f"{text}: {_times(rps)}, {_times(p99)}")

    def _rps_target(self, name: str, minimum: float) -> Target:
        rps = self.rps_ratio(name)
        text = f"{name}: req/s >= {minimum}x baseline"
        if rps is None:
            return Target("SKIP", f"{text} (not measured on both sides)")
        return Target(_status(rps >= minimum), f"{text}: {_times(rps)}")

    def _storm_target(self, scenario: str) -> Target:
        value = self.storm_ratio(STOREFRONT, scenario)
        text = f"{scenario}: Storefront's p99 of the read during it <= {MAX_STORM_P99}x alone"
        if value is None:
            return Target("SKIP", f"{text} (not measured)")
        return Target(_status(value <= MAX_STORM_P99), f"{text}: {_times(value)}")

    def _memory_target(self) -> Target:
        side = self.sides.get(STOREFRONT)
        text = f"memory: Storefront RSS per worker after the run <= {MAX_RSS_GROWTH}x after warm-up"
        if side is None or not side.rss_warm:
            return Target("SKIP", f"{text} (not measured)")
        if set(side.rss_warm) != set(side.rss_end):
            return Target("FAIL", f"{text}: workers changed during the run (restarted?)")
        growth = {pid: side.rss_end[pid] / side.rss_warm[pid] for pid in side.rss_warm}
        worst = max(growth.values())
        shown = ", ".join(f"{pid}: {_times(g)}" for pid, g in sorted(growth.items()))
        return Target(_status(worst <= MAX_RSS_GROWTH), f"{text}: {shown}")

    def _errors_target(self) -> Target:
        text = (
            "errors: zero non-2xx (and zero socket errors/timeouts) in every Storefront scenario "
            "(the wrong-password storm's own 401/429/503 excepted)"
        )
        measured = {
            name: stats
            for name, _ in self._rows()
            if not _is_attack_storm(name) and (stats := self.stats(STOREFRONT, name)) is not None
        }
        if not measured:
            return Target("SKIP", f"{text} (nothing measured)")
        bad = {
            n: s.non_2xx + s.socket_errors
            for n, s in measured.items()
            if s.non_2xx + s.socket_errors
        }
        skipped = sorted(self.sides[STOREFRONT].skipped) if STOREFRONT in self.sides else []
        detail = ", ".join(f"{n}: {count}" for n, count in bad.items()) or "none"
        if skipped:
            detail += f"; not measured (did not answer 2xx): {', '.join(skipped)}"
        return Target(_status(not bad and not skipped), f"{text}: {detail}")


def _is_attack_storm(name: str) -> bool:
    """The wrong-password storm's own results: refusals are what it is made of."""
    return name.endswith("_storm") and name.removesuffix("_storm") in ATTACKED


# ------------------------------------------------------------------ log scan


def log_problems(path: Path) -> dict[str, int]:
    """Counts of warning-or-worse events in a JSON log, keyed "level event"."""
    counts: Counter[str] = Counter()
    if not path.exists():
        return {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        level = str(record.get("level", "")).lower()
        if level in ("warning", "error", "critical", "exception"):
            counts[f"{level} {record.get('event', '?')}"] += 1
    return dict(counts.most_common())


# ------------------------------------------------------------------ formatting


def _status(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _one_line(text: str) -> str:
    flat = " ".join(text.split()).replace("|", "/")  # a "|" would split the table cell
    return flat if len(flat) <= 90 else flat[:87] + "..."
