"""`python -m aurion_sandbox`: run the sandbox API in the foreground until interrupted.

Prints `KEY=VALUE` lines (base URL, tenants file, sandbox keys) that point the pipeline at it;
the keys are fixed, public sandbox strings, not secrets.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import threading
from datetime import date
from pathlib import Path

from aurion_sandbox import DEFAULT_TENANTS, SandboxServer, make_tenants, sandbox_env, write_tenants_file


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Ctrl-C, or `kill -INT` when started in the background (where a shell starts it with SIGINT
    # ignored), and `kill` (SIGTERM) end it the same way: through the `with` blocks below, which stop the
    # server and remove the temporary tenants file.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.tenants_file:
        return _serve(args, args.tenants_file)
    with tempfile.TemporaryDirectory(prefix="aurion-sandbox-") as folder:
        return _serve(args, Path(folder) / "tenants.yaml")


def _serve(args: argparse.Namespace, tenants_file: Path) -> int:
    tenants = make_tenants(args.tenants) if args.tenants else DEFAULT_TENANTS
    write_tenants_file(tenants_file, tenants)
    server = SandboxServer(tenants, host=args.host, port=args.port, latency_s=args.latency,
                           max_range_days=args.max_range_days, today=args.today)
    env = {"AURION_BASE_URL": server.base_url, "AURION_TENANTS_FILE": str(Path(tenants_file).resolve()),
           **sandbox_env(tenants)}
    lines = "".join(f"{k}={v}\n" for k, v in env.items())
    # An interrupt at any point, even while the server starts, ends it quietly; the lines are printed
    # once it answers, so whoever reads them can use it at once.
    with contextlib.suppress(KeyboardInterrupt), server:
        if args.env_file:
            args.env_file.write_text(lines)
        sys.stdout.write(lines)
        sys.stdout.flush()
        threading.Event().wait()
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aurion_sandbox", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (default: 8765)")
    p.add_argument("--tenants", type=int, default=0, metavar="N",
                   help="serve N generated tenants instead of the five default ones")
    p.add_argument("--tenants-file", type=Path, help="where to write the tenants YAML (default: a temp dir)")
    p.add_argument("--env-file", type=Path, help="also write the KEY=VALUE lines to this file")
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="delay added to every request")
    p.add_argument("--max-range-days", type=int, help="reject longer /usage/details ranges with 400")
    p.add_argument("--today", type=date.fromisoformat, help="last day with usage (default: real UTC today)")
    return p


if __name__ == "__main__":
    raise SystemExit(main())
