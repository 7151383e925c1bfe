"""`aurion-pipeline`: demo, backfill, summary, sql, status, rebuild, alerts, report, sandbox.

Exit codes: 0 everything loaded; 1 a run failed or some windows failed (the others are loaded);
2 bad input or configuration, found before any Dagster run or network request.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from aurion_pipeline.config import (
    ConfigError,
    Settings,
    check_range,
    load_settings,
    require_api_keys,
)
from aurion_pipeline.text import first_line

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
FETCHING = ("backfill", "summary")  # commands that call the API: their keys must be set


MAX_DEMO_DAYS = 3660  # ten years of sandbox history; beyond, dates leave what the sandbox can make


def _date(value: str) -> date:
    """YYYY-MM-DD, or `yesterday` (UTC): the last complete day, where a backfill usually ends."""
    if value == "yesterday":
        return datetime.now(UTC).date() - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD or yesterday") from None


def _whole_number(least: int, most: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number, `least` or more (and `most` or less)."""
    bounds = f"{least} or more" if most is None else f"from {least} to {most}"

    def parse(value: str) -> int:
        try:
            if int(value) >= least and (most is None or int(value) <= most):
                return int(value)
        except ValueError:
            pass
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number ({bounds})")

    return parse


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line and exit 2, like every other bad input (argparse prints its usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    verbose = "also print Dagster's event log and stack traces"
    # Taken before the command or after it: the command's own -v must not reset `aurion-pipeline -v …`'s,
    # so it sets nothing unless given.
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=verbose)
    parser = _Parser(prog="aurion-pipeline", description=__doc__.split("\n\n")[0],
                     epilog=__doc__.split("\n\n")[1])
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common])

    demo = command("demo", "backfill the built-in sandbox API through Dagster into ./demo/ "
                           "and show where tenants stand")
    demo.add_argument("--days", type=_whole_number(1, most=MAX_DEMO_DAYS), default=90,
                      help=f"days to backfill, ending yesterday (default 90, at most {MAX_DEMO_DAYS})")
    demo.add_argument("--data-dir", help="where the demo keeps its data and Dagster home (default ./demo; "
                                         "AURION_DATA_DIR and DAGSTER_HOME are not used)")
    demo.add_argument("--alerts-file", metavar="FILE", help="send the sandbox tenants' alerts to this alerts file's "
                                                            "channels (AURION_ALERTS_FILE is not used)")
    backfill = command("backfill", "load a range of days through Dagster (one run, chunked requests)")
    backfill.add_argument("--start", type=_date, required=True, metavar="YYYY-MM-DD", help="first day to load (UTC)")
    backfill.add_argument("--end", type=_date, required=True, metavar="YYYY-MM-DD",
                          help="last day to load, inclusive (UTC; `yesterday`, the last complete day, at the latest)")
    backfill.add_argument("--tenant", action="append", default=[], help="only this tenant (repeatable)")
    backfill.add_argument("--missing-only", action="store_true", help="skip days already loaded (finish a failed run)")
    backfill.add_argument(
        "--commit-rows", type=_whole_number(0), default=0, metavar="N",
        help="commit rounds of windows together once they hold N tenant-days, however long that takes (default 0: "
        "commit what arrived every AURION_COMMIT_SECONDS); a kill loses at most one batch, which --missing-only "
        "refetches",
    )
    command("summary", "snapshot /usage/summary for every tenant through Dagster and print what it captured")
    sql = command("sql", "query the analyst copy (read-only; never blocks a load)")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table")
    command("status", "loaded range, gaps, failures, last loads and current alerts per tenant")
    command("rebuild", "rebuild the warehouse's raw tables from the Parquet lake, then the models, "
                       "and publish the analyst copy")
    alerts = command("alerts", "list pending and sent alerts (AURION_ALERTS_FILE names the channels)")
    # One action per call: with --test, a --deliver given beside it would otherwise be ignored without a word.
    action = alerts.add_mutually_exclusive_group()
    action.add_argument("--deliver", action="store_true", help="deliver now: everything pending and retries due")
    action.add_argument("--test", metavar="CHANNEL", help="send a test message to one channel")
    action.add_argument("--retry-given-up", action="store_true",
                        help="after fixing a channel: put its deliveries that gave up (younger than "
                             "AURION_ALERTS_MAX_AGE_HOURS) back in the queue, then deliver")
    report = command("report", "write the HTML report (works offline) of where every tenant stands")
    report.add_argument("--out", type=Path, help="file to write (default $AURION_DATA_DIR/report.html)")
    sandbox = command("sandbox", "run the sandbox Aurion API in the foreground and print its URL, tenants file "
                                 "and keys")
    sandbox.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    sandbox.add_argument("--tenants", type=_whole_number(0), default=0, metavar="N",
                         help="serve N generated tenants instead of the five default ones")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "demo":
            from aurion_pipeline.cli.demo import run_demo

            return run_demo(os.environ, days=args.days, root=args.data_dir, alerts_file=args.alerts_file,
                            verbose=args.verbose)
        settings = settings_for(args, os.environ)
        return _dispatch(args, settings)
    except ConfigError as exc:
        print(f"aurion-pipeline {args.command}: {first_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (`status | head`): not an error of ours. Point stdout at /dev/null so
        # Python's own flush at exit does not raise again, and exit as `head`'s writers do (128 + SIGPIPE).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        code = _exit_code_of(exc)
        if code is None:
            raise
        print(f"aurion-pipeline {args.command}: {first_line(exc)}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print(f"aurion-pipeline {args.command}: interrupted; re-run to complete (loads are idempotent)",
              file=sys.stderr)
        return 130


def settings_for(args: argparse.Namespace, env: os._Environ | dict[str, str]) -> Settings:
    """Every setting, the keys of the tenants the command will call, and the command's own dates:
    all checked here, before Dagster is imported, so a mistake costs a second, not a run."""
    settings = load_settings(env)
    if args.command in FETCHING:
        require_api_keys(settings, env, getattr(args, "tenant", ()))
    if args.command == "backfill":
        check_range(settings, args.start, args.end)
    if args.command in (*FETCHING, "alerts"):
        from aurion_pipeline.alerts.cli import preflight

        # A bad alerts file stops here, before any run. The listing sends nothing and --test sends to one
        # channel: they need no secret, or that channel's only.
        sends = args.command in FETCHING or args.deliver or args.retry_given_up or args.test is not None
        preflight(settings, env, secrets=sends, only=getattr(args, "test", None))
    return settings


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command in FETCHING:
        from aurion_pipeline.alerts.cli import print_after_load
        from aurion_pipeline.cli.loads import run_and_report

        outcome = run_and_report(args, settings)
        # Delivers alerts (with AURION_ALERTS_FILE) and refreshes report.html after every run that succeeded,
        # a partial load included, as Dagster's sensor does. A failed run's alerts go out with the next run
        # that succeeds, or `aurion-pipeline alerts --deliver`.
        if outcome.succeeded:
            print_after_load(settings, os.environ)
        return outcome.exit_code
    if args.command == "report":
        from aurion_pipeline.report import write_report

        print(f"report written: {write_report(settings, args.out)}")
        return EXIT_OK
    if args.command == "alerts":
        from aurion_pipeline.alerts.cli import run_alerts_command

        return run_alerts_command(settings, os.environ, deliver_now=args.deliver, test=args.test,
                                  retry_given_up=args.retry_given_up)
    if args.command == "sql":
        from aurion_pipeline.ops.query import print_query

        return print_query(settings, args.query, args.format)
    from aurion_pipeline.ops import status

    if args.command == "status":
        return status.print_status(settings)
    from aurion_pipeline.ops.rebuild import rebuild

    return rebuild(settings)


def _sandbox(args: argparse.Namespace) -> int:
    from aurion_sandbox.__main__ import main as sandbox_main

    print("sandbox Aurion API: source the lines below to point the pipeline at it "
          "(e.g. `aurion-pipeline sandbox > sandbox.env &`); Ctrl-C or kill stops it", file=sys.stderr, flush=True)
    return sandbox_main(["--port", str(args.port), *(["--tenants", str(args.tenants)] if args.tenants else [])])


def _exit_code_of(exc: Exception) -> int | None:
    """The exit code of an error a user can act on from its one line, or None for a bug (traceback).
    Imported here, not at the top: the API client and DuckDB cost a second to import, and a bad
    setting must be reported without them."""
    from aurion_pipeline.source.errors import AurionApiError
    from aurion_pipeline.storage import StorageError, WarehouseLockedError

    if isinstance(exc, StorageError):
        return exc.exit_code  # 2 when the data dir is not writable, else 1
    if isinstance(exc, WarehouseLockedError):
        return EXIT_FAILED  # as a load that waited as long: the command could not run now, nothing was wrong with it
    if isinstance(exc, (AurionApiError, FileNotFoundError)):
        return EXIT_BAD_INPUT
    return None


if __name__ == "__main__":
    sys.exit(main())
