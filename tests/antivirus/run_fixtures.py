#!/usr/bin/python3
"""Runs the antivirus module over its fixtures with smf-modtest and checks each result.

Usage:
  run_fixtures.py --modtest BIN --module SO --etc DIR --workdir DIR
  run_fixtures.py --modtest BIN --module SO --etc DIR --workdir DIR --init-failure

The first form writes the fixtures (make_fixtures.py) into WORKDIR and checks
every expected status, virus name, symbol and unscannable reason. The
signatures come from ETC/signatures through the module's default relative
paths, and database_dir is an empty folder, so the result does not depend
on what freshclam may have installed. The second form checks that init
fails, loudly and with advice, when no signature can be loaded.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Extra options per fixture group (values in libconfuse syntax).
GROUPS = {
    "default": [],
    "limits": ["max_scan_size=1", "max_file_size=1"],
    "filesize": ["max_file_size=1"],
    "recursion17": ["max_recursion=17"],
}


def modtest(args, module, options, files, config_dir):
    cmd = [args.modtest, "-m", module, "--config-dir", config_dir]
    for opt in options:
        cmd += ["-o", opt]
    return subprocess.run(cmd + files, capture_output=True, text=True, timeout=600)


def check_result(exp, got):
    """Returns a list of what is wrong with one result."""
    errors = []
    if got["status"] not in exp["status"]:
        errors.append("status %s, expected %s" % (got["status"], "/".join(exp["status"])))
    symbols = {s["name"]: s for s in got.get("symbols") or []}
    if exp["virus"]:
        if not (got.get("virus") or "").startswith(exp["virus"]):
            errors.append("virus %r, expected %s*" % (got.get("virus"), exp["virus"]))
    if exp["symbol"] and exp["symbol"] not in symbols:
        errors.append("symbol %s missing (have %s)" % (exp["symbol"], sorted(symbols)))
    if exp["symbol"] == "AV_INFECTED" and exp["symbol"] in symbols:
        if got.get("virus") and got["virus"] not in (symbols["AV_INFECTED"]["detail"] or ""):
            errors.append("AV_INFECTED detail lacks the virus name")
    if exp.get("where") and exp["symbol"] in symbols:
        detail = symbols[exp["symbol"]]["detail"] or ""
        if not detail.endswith(" in " + exp["where"]):
            errors.append("detail %r does not say it was in %s" % (detail, exp["where"]))
    if exp["unscannable"] and exp["unscannable"] not in (got.get("unscannable") or ""):
        errors.append("unscannable %r, expected it to mention %r" %
                      (got.get("unscannable"), exp["unscannable"]))
    if exp["status"] == ["clean"] and (symbols or got.get("virus") or got.get("unscannable")):
        errors.append("clean mail got %s / %s / %s" %
                      (sorted(symbols), got.get("virus"), got.get("unscannable")))
    return errors


def run_group(args, group, entries, fixdir, empty_db):
    files = [os.path.join(fixdir, e["file"]) for e in entries]
    options = ['database_dir="%s"' % empty_db] + GROUPS[group]
    proc = modtest(args, args.module, options, files, args.etc)
    results = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            got = json.loads(line)
            results[os.path.basename(got["file"])] = got
    failures = []
    if proc.returncode != 0:
        failures.append("%s group: smf-modtest exited %d: %s" %
                        (group, proc.returncode, proc.stderr.strip()[-2000:]))
    for exp in entries:
        got = results.get(exp["file"])
        if got is None:
            failures.append("%s: no result" % exp["file"])
            continue
        errors = check_result(exp, got)
        mark = "FAIL" if errors else "ok"
        print("%-4s %-12s %-44s %-11s %s" % (mark, group, exp["file"], got["status"],
                                            got.get("virus") or got.get("unscannable") or ""))
        failures += ["%s (%s): %s" % (exp["file"], group, e) for e in errors]
    return failures


def run_fixtures(args):
    fixdir = os.path.join(args.workdir, "fixtures")
    empty_db = os.path.join(args.workdir, "empty-db")
    os.makedirs(empty_db, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(HERE, "make_fixtures.py"), fixdir],
                   check=True)
    with open(os.path.join(fixdir, "expected.json")) as f:
        expected = json.load(f)
    failures = []
    for group in GROUPS:
        entries = [e for e in expected if e["group"] == group]
        if entries:
            failures += run_group(args, group, entries, fixdir, empty_db)
    return failures


def run_init_failure(args):
    """No database, no signature file: init must fail and say what to do."""
    empty_db = os.path.join(args.workdir, "empty-db")
    os.makedirs(empty_db, exist_ok=True)
    mail = os.path.join(args.workdir, "plain.eml")
    with open(mail, "w") as f:
        f.write("From: a@example.org\nTo: b@example.net\nSubject: hi\n\nhello\n")
    missing = os.path.join(args.workdir, "no-such-dir", "missing.ndb")
    options = ['database_dir="%s"' % empty_db, 'signature_files={"%s"}' % missing]
    proc = modtest(args, args.module, options, [mail], args.workdir)
    failures = []
    if proc.returncode != 2:
        failures.append("exit status %d, expected 2" % proc.returncode)
    for needle in ("no virus signatures loaded", empty_db, missing, "freshclam",
                   "signature_files"):
        if needle not in proc.stderr:
            failures.append("stderr does not mention %r" % needle)
    if '"status":"clean"' in proc.stdout.replace(" ", ""):
        failures.append("a message was reported clean without signatures")
    print("init failure stderr: %s" % proc.stderr.strip())
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--modtest", required=True)
    parser.add_argument("--module", required=True)
    parser.add_argument("--etc", required=True, help="folder holding signatures/")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--init-failure", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    failures = run_init_failure(args) if args.init_failure else run_fixtures(args)
    for failure in failures:
        print("FAIL: " + failure)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
