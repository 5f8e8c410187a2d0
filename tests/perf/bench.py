"""Storefront's benchmark: Storefront against a raw Starlette + asyncpg baseline.

Run from the repository root (needs PostgreSQL and wrk; not part of `pytest`):

    uv run python tests/perf/bench.py                                # 15 s, 32 conn., 3 reps
    uv run python tests/perf/bench.py --duration 3 --repetitions 1   # a quick smoke run
    uv run python tests/perf/bench.py --scenarios products,orders --skip-baseline
    uv run python tests/perf/bench.py --profile users_me --duration 20  # flame graph + budget

What one run does:

1. checks for `wrk` (else: `apt-get install -y wrk`) and PostgreSQL;
2. creates two fresh databases (dropped at the end, also on errors and Ctrl-C);
3. Storefront side: `storefront migrate` (Alembic), seeds with COPY the baseline's sizes
   (1,000 users, 500 products, 50,000 orders with 1-3 lines and one history row each;
   password `bench-password-1`, hashed by Storefront's PasswordHasher at cost 12), and
   starts `storefront serve --workers 2` in the production configuration (JSON logs to a
   file, bcrypt cost 12, metrics on, rate limits raised out of the way);
4. baseline side: `../shared/bench/baseline_app.py` in its own virtualenv
   (`var/bench-baseline-venv`), seeded by its `setup`, under uvicorn with 2 workers;
5. logs in through each server's API (reads as user 1, posts orders as user 2), probes every
   scenario once and warms it up, and records the RSS of every worker;
6. drives each scenario with wrk on one server at a time, alternating the servers per
   scenario and per repetition; the scenarios are listed by `--help`;
7. prints one markdown table (req/s median and range, p50, p99, non-2xx, ratios to the
   baseline), RSS per worker after warm-up and after the run, the login-storm ratio, and
   PASS/FAIL for each target of issue 10; writes the same as JSON and markdown to
   tests/perf/results/ (git-ignored), beside the servers' logs.

With `--profile SCENARIO`, only Storefront is started; wrk drives that one scenario while
py-spy samples the workers, and the results folder gets an SVG flame graph, the collapsed
stacks and a table of CPU microseconds per request by layer (see benchkit/profiling.py).

Environment: BENCH_PG_DSN (a maintenance database on the server to use
[postgresql://postgres@127.0.0.1:5432/postgres]), BENCH_SHARED_DIR (where baseline_app.py,
get.lua and post_order.lua are [../shared/bench from the repository root]),
BENCH_BASELINE_VENV (the baseline's virtualenv [var/bench-baseline-venv]).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

from benchkit import db, profiling, seed, sides, wrk
from benchkit.console import emit, say
from benchkit.fixtures import ApiError, fetch_fixtures
from benchkit.report import BASELINE, STOREFRONT, Report, log_problems
from benchkit.runner import Options, Runner, Side, worker_rss
from benchkit.scenarios import BY_NAME, SCENARIOS, script_paths, select
from benchkit.servers import Server, ServerFailed, compress_log, wait_ready
from tests.support.servers import free_port  # benchkit put the repository on sys.path

REPO = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO / "tests" / "perf" / "results"
SHARED_FILES = ("baseline_app.py", "get.lua", "post_order.lua", "requirements.txt")
EXPECTED_FAILURES = (
    ApiError,
    db.DatabaseUnavailable,
    ServerFailed,
    sides.CommandFailed,
    wrk.WrkFailed,
    profiling.ProfilerMissing,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description="Benchmark Storefront against the raw Starlette + asyncpg baseline.",
        epilog="scenarios: " + "; ".join(f"{s.name} = {s.title}" for s in SCENARIOS),
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per wrk run [15]")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections [32]")
    parser.add_argument("--repetitions", type=int, default=3, help="runs per scenario [3]")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="warm-up seconds per scenario [3]"
    )
    parser.add_argument(
        "--login-connections",
        type=int,
        default=4,
        help="wrk connections of the login scenarios and of the storms beside the reads [4]; "
        "at bcrypt cost 12 a few logins/s saturate 2 cores, more connections only queue, and "
        "past its bounded queue Storefront answers 503 by design (one hash at a time per CPU, "
        "4 more waiting per slot and worker)",
    )
    parser.add_argument(
        "--hashing-slots",
        type=int,
        metavar="N",
        help="an experiment: Storefront hashes at most N passwords at once on the machine "
        "(STOREFRONT_PASSWORD_HASHING_CONCURRENCY) instead of its default, one per CPU",
    )
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between runs [1]")
    parser.add_argument(
        "--scenarios",
        default=",".join(s.name for s in SCENARIOS),
        help="comma-separated scenario names [all]",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="run Storefront alone")
    parser.add_argument(
        "--profile",
        metavar="SCENARIO",
        help="profile Storefront under one scenario with py-spy (flame graph + layer budget) "
        "instead of benchmarking",
    )
    args = parser.parse_args(argv)
    if args.profile is not None and BY_NAME.get(args.profile, SCENARIOS[0]).kind in (
        "storm",
        "attack",
        "login",
    ):
        parser.error("--profile takes a single-load scenario (not a storm, attack or login)")
    if args.profile is not None and args.profile not in BY_NAME:
        parser.error(f"unknown scenario {args.profile}; known: {', '.join(BY_NAME)}")
    if (
        args.duration <= 0
        or args.connections < 1
        or args.repetitions < 1
        or args.login_connections < 1
        or (args.hashing_slots is not None and args.hashing_slots < 1)
    ):
        parser.error(
            "--duration, --connections, --repetitions, --login-connections and --hashing-slots "
            "must be positive"
        )
    try:
        args.selected = select([name.strip() for name in args.scenarios.split(",") if name.strip()])
    except ValueError as exc:
        parser.error(str(exc))
    return args


def shared_dir() -> Path:
    return Path(os.environ.get("BENCH_SHARED_DIR", REPO.parent / "shared" / "bench")).resolve()


def baseline_venv() -> Path:
    return Path(os.environ.get("BENCH_BASELINE_VENV", REPO / "var" / "bench-baseline-venv"))


def preflight() -> tuple[str, Path, str] | None:
    """(wrk, shared dir, PostgreSQL version), or None after saying what is missing."""
    wrk_path = wrk.find_wrk()
    if wrk_path is None:
        say(f"wrk is not installed; install it with: {wrk.INSTALL_HINT}")
        return None
    shared = shared_dir()
    missing = [name for name in SHARED_FILES if not (shared / name).is_file()]
    if missing:
        say(f"missing in {shared}: {', '.join(missing)} (set BENCH_SHARED_DIR)")
        return None
    try:
        version = db.server_version(db.admin_dsn())
    except db.DatabaseUnavailable as exc:
        say(f"PostgreSQL does not answer at {db.admin_dsn()} (set {db.ADMIN_DSN_ENV}): {exc}")
        return None
    return wrk_path, shared, version


# ------------------------------------------------------------------ cleanup helpers


def _stop(server: Server) -> None:
    say(f"stopping {server.name} (SIGTERM to pid {server.pid})")
    code = server.stop()
    if code not in (0, None):
        say(f"  {server.name} exited with status {code}; see {server.log_path}")


def _drop(admin: str, name: str) -> None:
    try:
        db.drop_database(admin, name)
    except db.DatabaseUnavailable as exc:
        say(f"could not drop database {name}: {exc}")


def _fresh_database(stack: ExitStack, admin: str, prefix: str) -> str:
    name = db.fresh_name(prefix)
    db.create_database(admin, name)
    stack.callback(_drop, admin, name)
    return name


# ------------------------------------------------------------------ the two sides


def overrides(args: argparse.Namespace) -> dict[str, str]:
    """Storefront settings the command line changes from the production configuration."""
    if args.hashing_slots is None:
        return {}
    return {"STOREFRONT_PASSWORD_HASHING_CONCURRENCY": str(args.hashing_slots)}


def prepare_storefront(
    stack: ExitStack, sizes: seed.SeedSizes, stamp: str, changed: dict[str, str]
) -> Side:
    admin = db.admin_dsn()
    name = _fresh_database(stack, admin, "bench_storefront")
    dsn = db.database_dsn(admin, name)
    url = db.database_dsn(admin, name, "postgresql+asyncpg")
    say(f"storefront: database {name}; migrating and seeding")
    sides.migrate_storefront(url, REPO, RESULTS_DIR / f"{stamp}-storefront-prepare.log")
    say(f"  seeded {seed.seed_storefront(dsn, sizes)}")
    # The server's private hashing slots go once it has stopped (LIFO).
    stack.callback(shutil.rmtree, sides.hashing_lock_dir(url), ignore_errors=True)
    log_path = RESULTS_DIR / f"{stamp}-storefront.log"
    server = sides.start_storefront(url, free_port(), REPO, log_path, changed)
    stack.callback(compress_log, server.log_path)  # once the server has stopped (LIFO)
    stack.callback(_stop, server)
    wait_ready(server, "/health/ready", sides.WORKERS)
    say(f"  serving at {server.url} (pid {server.pid}, workers {server.worker_pids()})")
    for name, value in changed.items():
        say(f"  not the production default: {name}={value}")
    return Side(server, refresh_fixtures=lambda: fetch_fixtures(server.url))


def prepare_baseline(stack: ExitStack, sizes: seed.SeedSizes, stamp: str, shared: Path) -> Side:
    admin = db.admin_dsn()
    prepare_log = RESULTS_DIR / f"{stamp}-baseline-prepare.log"
    python = sides.ensure_baseline_venv(baseline_venv(), shared / "requirements.txt", prepare_log)
    name = _fresh_database(stack, admin, "bench_baseline")
    dsn = db.database_dsn(admin, name)
    say(f"baseline: database {name}; seeding with baseline_app.py setup")
    sides.setup_baseline(python, shared, dsn, sizes, prepare_log)
    server = sides.start_baseline(
        python, shared, dsn, free_port(), RESULTS_DIR / f"{stamp}-baseline.log"
    )
    stack.callback(_stop, server)
    wait_ready(server, "/health/live", sides.WORKERS)
    say(f"  serving at {server.url} (pid {server.pid}, workers {server.worker_pids()})")
    return Side(server, refresh_fixtures=lambda: fetch_fixtures(server.url))


# ------------------------------------------------------------------ the run


def options_of(args: argparse.Namespace) -> Options:
    return Options(
        duration_s=args.duration,
        connections=args.connections,
        repetitions=args.repetitions,
        warmup_s=args.warmup,
        login_connections=args.login_connections,
        pause_s=args.pause,
    )


def run(
    args: argparse.Namespace, stack: ExitStack, wrk_path: str, shared: Path, pg_version: str
) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    sizes = seed.SeedSizes()
    started = {"loadavg": _loadavg(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    storefront = prepare_storefront(stack, sizes, stamp, overrides(args))
    by_name: dict[str, Side] = {STOREFRONT: storefront}
    if not args.skip_baseline:
        by_name[BASELINE] = prepare_baseline(stack, sizes, stamp, shared)

    runner = Runner(wrk_path, script_paths(shared), args.selected, options_of(args))
    for side in by_name.values():
        say(f"{side.name}: logging in, probing and warming up")
        runner.warm_up(side)
    say(f"measuring: {args.repetitions} x {len(args.selected)} scenarios x {len(by_name)} servers")
    runner.measure(list(by_name.values()))
    for side in by_name.values():
        side.rss_end = worker_rss(side.server)

    report = Report(runner.results, by_name, args.selected, args.login_connections)
    markdown = render(report, args, pg_version)
    emit(markdown)
    context = {"started": started, "ended_loadavg": _loadavg(), "postgresql": pg_version}
    write_results(stamp, report, by_name, args, context, markdown)
    return 0


def run_profile(args: argparse.Namespace, stack: ExitStack, wrk_path: str, shared: Path) -> int:
    """Storefront alone under one scenario, sampled by py-spy: flame graph and layer budget."""
    py_spy = profiling.find_py_spy()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    side = prepare_storefront(stack, seed.SeedSizes(), stamp, overrides(args))
    scenario = BY_NAME[args.profile]
    runner = Runner(wrk_path, script_paths(shared), [scenario], options_of(args))
    runner.warm_up(side)
    pids = side.server.worker_pids()
    stem = RESULTS_DIR / f"profile-{stamp}-{scenario.name}"
    recording = profiling.record(py_spy, pids, args.duration + 2, stem)
    cpu_before, loadavg = profiling.cpu_seconds(pids), _loadavg()
    result = runner.run_once(side, scenario, args.duration, f"profile/{scenario.name}")
    cpu_us = 1e6 * (profiling.cpu_seconds(pids) - cpu_before) / max(result.requests, 1)
    recording.wait()
    budget = profiling.budget_table(profiling.layer_shares(recording.collapsed), cpu_us)
    markdown = "\n".join(
        [
            f"## Profile of `{scenario.title}`",
            "",
            f"wrk -c{args.connections} -d{args.duration:g}s, {sides.WORKERS} workers, "
            f"{result.rps:,.0f} req/s under py-spy ({profiling.SAMPLES_PER_SECOND} Hz), "
            f"load average before {loadavg}, after {_loadavg()}",
            "",
            budget,
            "",
            f"Flame graph (worker {pids[0]}): {recording.flamegraph.name}; "
            f"stacks counted (worker {pids[1]}): {recording.collapsed.name}",
        ]
    )
    emit(markdown)
    stem.with_suffix(".md").write_text(markdown + "\n", encoding="utf-8")
    say(f"profile: {stem}.md, .svg, .collapsed.txt")
    return 0


def render(report: Report, args: argparse.Namespace, pg_version: str) -> str:
    setup = (
        f"wrk -t2 -c{args.connections} -d{args.duration:g}s, {args.repetitions} repetition(s), "
        f"{sides.WORKERS} uvicorn workers per server, PostgreSQL {pg_version}, "
        f"{os.cpu_count()} CPUs, load average now {_loadavg()}"
    )
    changed = ", ".join(f"{name}={value}" for name, value in overrides(args).items())
    if changed:
        setup += f"; Storefront not in its production defaults: {changed}"
    parts = [
        "## Benchmark results",
        "",
        setup,
        "",
        report.table(),
        "",
        "### RSS per worker",
        "",
        report.rss_table(),
        "",
        "### Login storm",
        "",
        *(report.storm_lines() or ["- not measured"]),
        "",
        "### Targets (issue 10)",
        "",
        "```",
        *(target.line() for target in report.targets()),
        "```",
    ]
    storefront = report.sides.get(STOREFRONT)
    if storefront is not None:
        problems = log_problems(storefront.server.log_path)
        shown = ", ".join(f"{event}: {count}" for event, count in problems.items()) or "none"
        log_name = f"{storefront.server.log_path.name}, gzipped after the run"
        parts += ["", f"Warnings and errors in Storefront's log ({log_name}): {shown}."]
    return "\n".join(parts)


def write_results(
    stamp: str,
    report: Report,
    by_name: dict[str, Side],
    args: argparse.Namespace,
    context: dict[str, Any],
    markdown: str,
) -> None:
    payload = {
        "context": {**context, "git_commit": _git_commit(), "python": platform.python_version()},
        "options": {k: v for k, v in vars(args).items() if k != "selected"},
        "sides": {name: _side_json(side) for name, side in by_name.items()},
        "runs": {
            server: {scenario: [r.to_json() for r in results] for scenario, results in runs.items()}
            for server, runs in report.results.runs.items()
        },
        "cpu_us_per_request": {
            server: dict(scenarios) for server, scenarios in report.results.cpu_us.items()
        },
        "targets": [{"status": t.status, "text": t.text} for t in report.targets()],
        "storefront_log_problems": log_problems(by_name[STOREFRONT].server.log_path),
    }
    json_path = RESULTS_DIR / f"bench-{stamp}.json"
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    (RESULTS_DIR / f"bench-{stamp}.md").write_text(markdown + "\n", encoding="utf-8")
    say(f"results: {json_path} (and .md); server logs: {RESULTS_DIR}/{stamp}-*.log[.gz]")


def _side_json(side: Side) -> dict[str, Any]:
    return {
        "url": side.server.url,
        "log": str(side.server.log_path),
        "skipped": side.skipped,
        "rss_warm_mib": side.rss_warm,
        "rss_end_mib": side.rss_end,
    }


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _git_commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the cleanup below


def _shield_cleanup() -> None:
    """From here on, a second Ctrl-C (`uv run` forwards one more) must not cut the cleanup."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    checked = preflight()
    if checked is None:
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    with ExitStack() as stack:
        try:
            if args.profile is not None:
                return run_profile(args, stack, checked[0], checked[1])
            return run(args, stack, *checked)
        except KeyboardInterrupt:
            say("interrupted; stopping servers and dropping databases")
            return 130
        except EXPECTED_FAILURES as exc:
            say(f"benchmark failed: {exc}")
            return 1
        finally:
            _shield_cleanup()  # runs before the stack stops the servers and drops databases


if __name__ == "__main__":
    sys.exit(main())
