"""The CI dependency audit (scripts/audit_deps.py) fails on a vulnerability with a fix, and only then.

pip-audit itself needs a vulnerability service (PyPI or OSV) that this machine may not reach; these
tests feed the decision the JSON report pip-audit writes (``--format json``), in its real shape.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("audit_deps", Path(__file__).parent.parent / "scripts" / "audit_deps.py")
audit_deps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit_deps)


def _report(*vulns, skipped=()):
    deps = [{"name": "jinja2", "version": "3.1.6", "vulns": []}]
    for name, vid, fixes in vulns:
        deps.append({"name": name, "version": "1.0", "vulns": [
            {"id": vid, "fix_versions": list(fixes), "aliases": [f"CVE-2026-{len(deps):04d}"], "description": "…"}]})
    deps += [{"name": n, "skip_reason": "Dependency not found on PyPI and could not be audited: x"} for n in skipped]
    return {"dependencies": deps, "fixes": []}


def test_a_vulnerability_with_a_fix_fails_the_audit():
    code, lines = audit_deps.decide(_report(("somepkg", "PYSEC-2026-1", ["1.0.1"])))
    assert code == 1
    assert any("somepkg 1.0: PYSEC-2026-1" in x and "fixed in 1.0.1" in x for x in lines)


def test_a_vulnerability_without_a_fix_is_a_warning_only():
    code, lines = audit_deps.decide(_report(("otherpkg", "GHSA-xxxx", [])))
    assert code == 0
    assert any("no fix released" in x for x in lines)


def test_an_accepted_exception_does_not_fail_and_is_shown_with_its_reason():
    report = _report(("pinned", "PYSEC-2026-2", ["9.9"]))
    code, lines = audit_deps.decide(report, {"CVE-2026-0001": "fix needs a newer pin"})
    assert code == 0
    assert any("accepted: fix needs a newer pin" in x for x in lines)


def test_packages_that_could_not_be_looked_up_are_listed():
    code, lines = audit_deps.decide(_report(skipped=["mystery"]))
    assert code == 0
    assert any(x.strip().startswith("mystery") for x in lines)
