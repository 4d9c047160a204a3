"""Dependency audit for CI: pip-audit over the installed environment (the venv `make test` built).

    .venv/bin/python scripts/audit_deps.py            # what .ci/run does (make audit)
    .venv/bin/python scripts/audit_deps.py --require  # also fail when the audit could not run

Exit status:
  1  a known vulnerability WITH a fixed version is installed (and is not an accepted exception
     below): raise the lower bound in pyproject.toml to a fixed version;
  0  otherwise — vulnerabilities without any fix are printed as warnings (nothing to upgrade to);
  0  when the audit could not run (no vulnerability service reachable: PyPI's per-version JSON
     API, then OSV) — printed loudly as AUDIT NOT RUN, so a closed network does not fail CI for
     network reasons; with --require (or ANJIAN_AUDIT_REQUIRED=1) that is exit 2.

Why a wrapper: pip-audit exits 1 for any vulnerability, fixable or not, and — the trap — exits 0
with "No known vulnerabilities found" when it could not look a single package up (each one
"skipped": e.g. a PyPI mirror that serves /pypi/NAME/json but not /pypi/NAME/VERSION/json). Its
``--strict`` turns any skip into a failure, so it cannot tell "vulnerable" from "offline". The
JSON report (``--format json``) says per package ``vulns[].fix_versions`` and ``skip_reason``;
this script decides from those.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

# Vulnerabilities accepted on purpose: id → why (a fix conflicts with a pin in pyproject.toml).
# Each one is also listed in docs/security.md ("Dependency audit and schema fuzzing").
ACCEPTED: dict[str, str] = {}

SERVICES = ("pypi", "osv")  # pip-audit's default (PyPI JSON API), then OSV's API
TIMEOUT = 600


def run_pip_audit(service: str) -> tuple[dict | None, str]:
    """pip-audit's JSON report for this environment, or None and why it could not run."""
    cmd = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off",
           "--local", "--skip-editable", "--vulnerability-service", service, "--timeout", "30"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    except FileNotFoundError as exc:
        return None, f"pip-audit not runnable: {exc}"
    except subprocess.TimeoutExpired:
        return None, f"pip-audit ({service}) took more than {TIMEOUT} s"
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"pip-audit ({service}) exited {proc.returncode}: {last[:300]}"
    return report, ""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="pip-audit for CI: fail on a known vulnerability with a fix available")
    p.add_argument("--require", action="store_true", default=os.environ.get("ANJIAN_AUDIT_REQUIRED") == "1",
                   help="exit 2 when no vulnerability service could be reached")
    args = p.parse_args(argv)

    reasons = []
    report = None
    for service in SERVICES:
        report, why = run_pip_audit(service)
        if report is None:
            reasons.append(why)
            continue
        deps = report.get("dependencies", [])
        audited = [d for d in deps if "skip_reason" not in d]
        if deps and not audited:  # every lookup failed: the service is not reachable from here
            sample = deps[0]["skip_reason"]
            reasons.append(f"{service}: none of {len(deps)} packages could be looked up (e.g. {sample})")
            report = None
            continue
        print(f"dependency audit: {len(audited)} of {len(deps)} installed packages checked against {service}")
        break

    if report is None:
        bar = "!" * 78
        print(f"{bar}\n!! DEPENDENCY AUDIT NOT RUN: no vulnerability service reachable from this machine.\n"
              + "".join(f"!!   {r}\n" for r in reasons)
              + "!! Nothing was checked. Run scripts/audit_deps.py where PyPI or OSV is reachable.\n" + bar)
        return 2 if args.require else 0

    code, lines = decide(report)
    print("\n".join(lines))
    return code


def decide(report: dict, accepted_ids: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Exit status and what to print, from pip-audit's JSON report: 1 when a vulnerability has a
    fixed version (and is not accepted), else 0."""
    accepted_ids = ACCEPTED if accepted_ids is None else accepted_ids
    failing, unfixed, accepted = [], [], []
    for dep in report["dependencies"]:
        for v in dep.get("vulns", []):
            ids = [v["id"], *(v.get("aliases") or [])]
            line = (f"{dep['name']} {dep['version']}: {v['id']}"
                    + (f" ({', '.join(v.get('aliases') or [])})" if v.get("aliases") else "")
                    + (f" — fixed in {', '.join(v['fix_versions'])}" if v.get("fix_versions") else " — no fix released"))
            why = next((accepted_ids[i] for i in ids if i in accepted_ids), None)
            if why:
                accepted.append(f"{line}; accepted: {why}")
            elif v.get("fix_versions"):
                failing.append(line)
            else:
                unfixed.append(line)
    skipped = [f"{d['name']} {d.get('version', '')}: {d['skip_reason']}" for d in report["dependencies"] if "skip_reason" in d]
    lines: list[str] = []
    for title, rows in (("not audited", skipped), ("accepted exceptions", accepted),
                        ("vulnerable, no fix released (warning)", unfixed),
                        ("VULNERABLE WITH A FIX AVAILABLE (raise the bound in pyproject.toml)", failing)):
        if rows:
            lines.append(f"{title}:")
            lines += [f"  {r}" for r in rows]
    if failing:
        return 1, lines
    return 0, lines + ["dependency audit: no known vulnerability with a fix available"]

if __name__ == "__main__":
    sys.exit(main())
