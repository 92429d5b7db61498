"""`make evidence-gates`: run each gate of `make test` and record its verdict as `gate`
evidence on the instance the settings name (DARVAZA_DATABASE_URL), through
`darvaza evidence record`, so the record is the same as any other run's.

    .venv/bin/python scripts/evidence-gates.py [GATE ...]

With no names, every gate in order. A gate that fails is recorded and the others still
run; the exit status is 1 when any failed, 2 for an unknown gate name. A record that
cannot be written (say the database is not migrated) is a note, never a lost verdict:
the gate's own answer is printed either way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DARVAZA = ROOT / ".venv" / "bin" / "darvaza"
MAKE = shutil.which("make") or "/usr/bin/make"
# The gates of `make test`, in its order (the Makefile's targets of the same names).
GATES = ("lint", "typecheck", "layers", "contracts", "catalogs", "pytest")
TAIL_LINES = 40
TAIL_CHARS = 8_000  # the details stay well under the evidence's 16 KiB bound


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_gate(gate: str) -> bool:
    started, clock = _now(), time.monotonic()
    ran = subprocess.run(  # noqa: S603 (our own make targets, by name from GATES)
        [MAKE, "-s", gate], cwd=ROOT, capture_output=True, text=True, check=False
    )
    seconds = round(time.monotonic() - clock, 1)
    output = (ran.stdout + ran.stderr).rstrip()
    passed = ran.returncode == 0
    print(f"{gate:<10} {'passed' if passed else 'FAILED':<7} {seconds:>8.1f}s")
    if not passed:
        print(output[-TAIL_CHARS:], file=sys.stderr)
    details = {
        "command": f"make {gate}",
        "exit_code": ran.returncode,
        "seconds": seconds,
        "output_tail": "\n".join(output.splitlines()[-TAIL_LINES:])[-TAIL_CHARS:],
    }
    recorded = subprocess.run(  # noqa: S603 (our own command)
        [str(DARVAZA), "evidence", "record", "--kind", "gate", "--name", gate,
         "--result", "passed" if passed else "failed", "--details-file", "-",
         "--started-at", started, "--finished-at", _now()],
        cwd=ROOT, input=json.dumps(details), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if recorded.returncode != 0:
        said = (recorded.stderr or recorded.stdout).strip()
        print(f"note: the {gate} gate's evidence was not recorded: {said}", file=sys.stderr)
    return passed


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in GATES]
    if unknown:
        print(f"unknown gate: {', '.join(unknown)} (gates: {', '.join(GATES)})", file=sys.stderr)
        return 2
    results = [run_gate(gate) for gate in (names or GATES)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
