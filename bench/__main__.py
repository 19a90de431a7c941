"""`make bench` (`python -m bench [SUITE ...] [--markdown]`): the portal's speed, measured
against its limits on the sandbox, one table at the end.

Each suite runs in a child process (bench/child.py) with its own database: a copy of a migrated
SQLite database for most, the cached million-record audit database for `audit`, a throwaway
PostgreSQL database (created here, dropped after) for `audit_postgres` when one answers at
127.0.0.1:5432. Everything listens on and talks to 127.0.0.1 only. The exit status is 1 when a
target is missed or a benchmark breaks; the table is printed either way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import env
from bench.harness import Result, exit_status, format_markdown, format_table

# name: (module run in the child, timeout in seconds, what it measures)
SUITES = {
    "dashboard": ("dashboard", 300, "dashboard latency with 200 ms per upstream call"),
    "keys": ("keys", 300, "keys page: cache, and server time at 500 keys"),
    "usage_csv": ("usage_csv", 300, "usage CSV export of 200,000 entries"),
    "audit": ("audit", 1200, "audit page over 1,000,000 records, SQLite"),
    "audit_postgres": ("audit", 1200, "audit page over 1,000,000 records, PostgreSQL"),
    "gunicorn_load": ("gunicorn_load", 300, "/keys/ under gunicorn against /healthz"),
    "alerts": ("alerts", 300, "check_alerts with 50 rules over 500 keys"),
    "soak": ("soak", 600, "gunicorn, PostgreSQL, Redis: 20 sessions × 60 s, then Redis stopped"),
}
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=", ".join(SUITES))
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args(argv)
    unknown = [name for name in args.suites if name not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")

    env.VAR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    template = _template_database()
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=env.VAR))
    results: list[Result] = []
    try:
        for name in args.suites or list(SUITES):
            results += _run_suite(name, workdir, template)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nbench: finished in {time.monotonic() - started:.0f} s\n")
    print(format_table(results))
    if args.markdown:
        print("\n" + format_markdown(results))
    return exit_status(results)


def _template_database() -> Path:
    """A migrated, empty SQLite database, made once per schema version; suites get copies."""
    path = env.VAR / f"portal-s{env.schema_version()}.sqlite3"
    if not path.exists():
        for stale in env.VAR.glob("portal-s*.sqlite3*"):
            stale.unlink()  # an older schema's
        building = path.with_suffix(".building")
        building.unlink(missing_ok=True)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=env.ROOT,
            env={**env.base_environment(), "DATABASE_URL": f"sqlite:///{building}"},
            check=True,
            timeout=300,
        )
        building.rename(path)
    return path


def _run_suite(name: str, workdir: Path, template: Path) -> list[Result]:
    module, timeout, what = SUITES[name]
    print(f"bench: {name}: {what} …", flush=True)
    child_env = {**env.base_environment(), "BENCH_WORKDIR": str(workdir)}
    if name == "audit":
        from bench.audit import sqlite_cache_path

        child_env["DATABASE_URL"] = f"sqlite:///{sqlite_cache_path()}"
        return _run_child(name, module, timeout, child_env, workdir)
    if name in ("audit_postgres", "soak"):
        return _with_postgres(name, module, timeout, child_env, workdir)
    database = workdir / f"{name}.sqlite3"
    shutil.copyfile(template, database)
    child_env["DATABASE_URL"] = f"sqlite:///{database}"
    return _run_child(name, module, timeout, child_env, workdir)


def _run_child(name, module, timeout, child_env, workdir) -> list[Result]:
    out = workdir / f"{name}.json"
    started = time.monotonic()
    # A session of its own, so that a child past its time goes together with what it started
    # (the gunicorn suite's server processes), not leaving them behind.
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.child", module, str(out)],
        cwd=env.ROOT,
        env=child_env,
        start_new_session=True,
    )
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(child)
        return [Result(figure=name, value=None, error=f"{name}: no result within {timeout} s")]
    except BaseException:  # Ctrl-C: stop the child and its processes too
        _stop_group(child)
        raise
    print(f"bench: {name}: {time.monotonic() - started:.0f} s", flush=True)
    if not out.exists():
        return [Result(figure=name, value=None, error=f"{name}: the child wrote no results")]
    return [Result.from_dict(item) for item in json.loads(out.read_text())]


def _stop_group(child: subprocess.Popen) -> None:
    """SIGTERM to the child's process group (the child and what it started), SIGKILL to
    whatever is still there 10 s later."""
    try:
        os.killpg(child.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        child.poll()  # reap the child, or it stays in the group as a zombie
        try:
            os.killpg(child.pid, 0)  # anyone left?
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _with_postgres(name, module, timeout, child_env, workdir) -> list[Result]:
    """Run the suite on a database of its own, dropped afterwards whatever happens."""
    figure = {
        "audit_postgres": "/audit/ filtered page, 1,000,000 records (PostgreSQL): p95",
        "soak": "soak: errors",
    }[name]
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except Exception as error:  # noqa: BLE001 - any failure to connect means "not here"
        reason = f"no PostgreSQL at {POSTGRES_URL.split('@')[-1]} ({type(error).__name__})"
        return [Result(figure=figure, value=None, skipped=reason)]
    database = f"venice_bench_{os.getpid()}"
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.execute(f'CREATE DATABASE "{database}"')
        base = POSTGRES_URL.rsplit("/", 1)[0]
        child_env["DATABASE_URL"] = f"{base}/{database}"
        return _run_child(name, module, timeout, child_env, workdir)
    except Exception as error:  # noqa: BLE001 - reported as the figure's error
        return [Result(figure=figure, value=None, error=f"{name}: {type(error).__name__}: {error}")]
    finally:
        try:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        except Exception as error:  # noqa: BLE001 - say so, and let the table print
            print(f"bench: could not drop PostgreSQL database {database}: {error}", flush=True)
        admin.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
