"""`make audit`: known vulnerabilities in the locked dependencies, said plainly.

pip-audit reports "No known vulnerabilities found" and exits 0 even when the vulnerability
service answered for none of the packages (each is then "skipped: could not be audited").
This reads its JSON report instead and says which of three things happened: vulnerabilities
found (exit 1), nothing could be audited or only part (exit 3), or every locked package
audited and none has a known vulnerability (exit 0).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"


@dataclass
class Audit:
    audited: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why
    vulnerable: dict[str, list[str]] = field(default_factory=dict)  # name@version -> ids

    @property
    def exit_code(self) -> int:
        if self.vulnerable:
            return 1
        return 3 if self.skipped or not self.audited else 0

    def report(self) -> str:
        total = len(self.audited) + len(self.skipped)
        lines = [f"{name}: {', '.join(ids)}" for name, ids in sorted(self.vulnerable.items())]
        if self.vulnerable:
            lines.append(f"audit: KNOWN VULNERABILITIES in {len(self.vulnerable)} package(s).")
        if self.skipped and not self.audited:
            why = next(iter(self.skipped.values()))
            lines.append(
                f"audit: COULD NOT AUDIT any of the {total} locked packages: the vulnerability "
                f"service did not answer for them (first reason: {why}). This is not a clean "
                "result: run `make audit` where PyPI's JSON API or OSV is reachable."
            )
        elif self.skipped:
            names = ", ".join(sorted(self.skipped)[:10])
            lines.append(
                f"audit: audited {len(self.audited)} of {total} packages; could NOT audit "
                f"{len(self.skipped)} ({names}{', ...' if len(self.skipped) > 10 else ''})."
            )
        if not self.vulnerable and self.audited:
            lines.append(
                f"audit: no known vulnerabilities in the {len(self.audited)} audited package(s)."
            )
        return "\n".join(lines)


def summarise(report: dict[str, Any]) -> Audit:
    """An :class:`Audit` from pip-audit's ``-f json`` report."""
    audit = Audit()
    for dependency in report.get("dependencies", []):
        name = str(dependency.get("name"))
        if "skip_reason" in dependency:
            audit.skipped[name] = str(dependency["skip_reason"])
            continue
        audit.audited.append(name)
        ids = [str(v.get("id")) for v in dependency.get("vulns", [])]
        if ids:
            audit.vulnerable[f"{name}=={dependency.get('version')}"] = ids
    return audit


def main() -> int:
    command = [
        sys.executable, "-m", "pip_audit", "-r", str(REQUIREMENTS), "--no-deps",
        "--disable-pip", "--progress-spinner", "off", "-f", "json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit: COULD NOT AUDIT: pip-audit failed ({last}).")
        return 3
    audit = summarise(report)
    print(audit.report())
    return audit.exit_code


if __name__ == "__main__":
    sys.exit(main())
