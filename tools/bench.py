#!/usr/bin/env python3
"""Run every benchmark in tools/bench/ and write their figures as one JSON file.

Each tools/bench/bench_<area>.py defines `run(quick: bool = False) -> dict`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", default="bench.json", help="where the JSON goes")
    parser.add_argument("--only", action="append", help="run only these areas (repeatable)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()

    import os

    results: dict = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "areas": {},
    }
    failed = 0
    for path in sorted((HERE / "bench").glob("bench_*.py")):
        area = path.stem.removeprefix("bench_")
        if args.only and area not in args.only:
            continue
        print(f"bench: {area} ...", file=sys.stderr, flush=True)
        spec = importlib.util.spec_from_file_location(f"bench_{area}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        t0 = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            figures = module.run(quick=args.quick)
            figures["bench_seconds"] = round(time.perf_counter() - t0, 2)
            results["areas"][area] = figures
        except Exception as exc:
            failed += 1
            traceback.print_exc()
            results["areas"][area] = {"error": f"{type(exc).__name__}: {exc}"}
        # Write after every area, so a long run that is stopped keeps what it measured.
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(args.output)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
