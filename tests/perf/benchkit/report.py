"""The report: one markdown table, RSS per worker, the login-storm ratio, issue 5's targets."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchkit.runner import Results, Side
from benchkit.scenarios import STORM, STORM_LOGIN, Scenario
from benchkit.wrk import WrkResult

STOREFRONT = "storefront"
BASELINE = "baseline"
READ_SCENARIOS = ("users_me", "order", "orders", "products")
MIN_READ_RPS, MAX_READ_P99 = 0.5, 2.0
MIN_WRITE_RPS = 0.4
MIN_HEALTH_RPS = 0.5
MAX_STORM_P99 = 2.0
MAX_RSS_GROWTH = 1.2


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

    def storm_ratio(self, server: str) -> float | None:
        """p99 of GET /products during the storm divided by its p99 alone."""
        return self._ratio("p99_ms", (server, STORM), (server, "products"))

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
            if scenario.name == STORM:
                rows.append((STORM_LOGIN, f"POST /api/v1/auth/login beside it, {logins}"))
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

    def table(self) -> str:
        lines = [
            "| scenario | server | req/s median (min-max) | p50 ms | p99 ms | non-2xx "
            "| req/s / baseline | p99 / baseline |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, title in self._rows():
            for server in (STOREFRONT, BASELINE):
                if server not in self.sides:
                    continue
                ratios = ["", ""]
                if server == STOREFRONT and BASELINE in self.sides:
                    ratios = [_times(self.rps_ratio(name)), _times(self.p99_ratio(name))]
                cells = [f"`{title}`", server, *self._cells(name, server), *ratios]
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
        for server in self.sides:
            during, alone = self.stats(server, STORM), self.stats(server, "products")
            if during and alone:
                lines.append(
                    f"- {server}: p99 of GET /products during the login storm "
                    f"{during.p99_ms:.2f} ms vs {alone.p99_ms:.2f} ms alone = "
                    f"{_times(self.storm_ratio(server))}"
                )
        return lines

    # ---------------------------------------------------------------- targets

    def targets(self) -> list[Target]:
        targets = [self._read_target(name) for name in READ_SCENARIOS]
        targets.append(self._rps_target("post_order", MIN_WRITE_RPS))
        targets.append(self._rps_target("health", MIN_HEALTH_RPS))
        targets.append(self._storm_target())
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

    def _storm_target(self) -> Target:
        value = self.storm_ratio(STOREFRONT)
        text = f"login storm: Storefront's GET /products p99 during it <= {MAX_STORM_P99}x alone"
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
        text = "errors: zero non-2xx (and zero socket errors/timeouts) in every Storefront scenario"
        measured = {
            name: stats
            for name, _ in self._rows()
            if (stats := self.stats(STOREFRONT, name)) is not None
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
