"""Run every ``benchmarks/bench_*.py`` in turn, each in its own process.

    .venv/bin/python benchmarks/run.py                 # all, at their default sizes
    .venv/bin/python benchmarks/run.py replay          # only bench_replay.py
    .venv/bin/python benchmarks/run.py -- --rows 1000000 --no-write   # args for each bench

Each benchmark writes its own section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names, extra = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    benches = sorted(HERE.glob("bench_*.py"))
    if names:
        benches = [b for b in benches if b.stem.removeprefix("bench_") in names or b.stem in names]
        if not benches:
            print(f"no benchmark named {', '.join(names)} in {HERE}", file=sys.stderr)
            return 2
    failed = []
    for bench in benches:
        print(f"== {bench.name}", file=sys.stderr, flush=True)
        if subprocess.run([sys.executable, str(bench), *extra], check=False).returncode != 0:
            failed.append(bench.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
