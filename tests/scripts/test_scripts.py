"""The scripts in scripts/, as a newcomer meets them.

help: every executable in scripts/ answers --help and -h with a usage text on
stdout and exit 0, and an unknown option with exit 2 and a message naming it,
also when copied alone to an empty folder, away from the source tree and the
build. Neither may install or build anything: cmake, ctest, apt-get, sudo and
dpkg-query are replaced on PATH by stand-ins that record being called and fail.
scripts/test takes -jN, -j N, --jobs N and --jobs=N.

packages: the README's "Dependencies" tables name exactly the packages that
`scripts/setup --list` installs (the first two), `--engine --list` those of the
first table, and `--fuzz --list` those of all three.

tune-rules: scripts/tune-rules, run on a small corpus made here through the
built pattern module, counts a meta rule's points in the rates it reports
(a spam caught only with the meta's points is reported caught), keeps the
meta's score as written and refits a regex rule.
Standard library only."""
import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

GUARDED = ("cmake", "ctest", "apt-get", "apt", "sudo", "dpkg-query", "postfix", "make")


def scripts(source):
    folder = os.path.join(source, "scripts")
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if os.path.isfile(os.path.join(folder, n))
                  and os.access(os.path.join(folder, n), os.X_OK))


def guarded_env(tmp):
    """PATH with stand-ins for the tools that install or build, and the file they write to."""
    bindir = os.path.join(tmp, "bin")
    os.mkdir(bindir)
    calls = os.path.join(tmp, "calls")
    for name in GUARDED:
        path = os.path.join(bindir, name)
        with open(path, "w") as f:
            f.write('#!/bin/sh\necho "%s $*" >>"%s"\nexit 1\n' % (name, calls))
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               SMF_BUILD_DIR=os.path.join(tmp, "no-build"), TMPDIR=tmp)
    return env, calls


def copied_alone(script, tmp):
    """A copy of script in a folder of its own, as one copied to another host: its --help
    must not need the source tree or a build beside it."""
    folder = os.path.join(tmp, "alone")
    os.makedirs(folder, exist_ok=True)
    copy = os.path.join(folder, os.path.basename(script))
    shutil.copy2(script, copy)
    return copy


def check_help(source):
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        env, calls = guarded_env(tmp)
        runs = [(s, os.path.relpath(s, source)) for s in scripts(source)]
        runs += [(copied_alone(s, tmp), os.path.relpath(s, source) + " (copied alone)")
                 for s in scripts(source)]
        for script, name in runs:
            # An operand too, lest a script report the missing one before the option.
            for args, code in ((["--help"], 0), (["-h"], 0), (["--no-such-option", tmp], 2)):
                try:
                    p = subprocess.run([script] + args, cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                       capture_output=True, text=True, timeout=30)
                except subprocess.TimeoutExpired:
                    failures.append("%s %s: still running after 30 s" % (name, " ".join(args)))
                    continue
                what = "%s %s" % (name, args[0])
                if p.returncode != code:
                    failures.append("%s: exit %d, not %d\n  stdout: %s\n  stderr: %s" % (
                        what, p.returncode, code, p.stdout[-400:], p.stderr[-400:]))
                elif code == 0 and not re.search(r"^usage:", p.stdout, re.I | re.M):
                    failures.append("%s: no 'usage:' line on stdout:\n%s" % (what, p.stdout[:400]))
                elif code == 2 and "--no-such-option" not in p.stderr:
                    failures.append("%s: the error does not name the option:\n%s" % (what, p.stderr))
                if os.path.exists(calls):
                    with open(calls) as f:
                        failures.append("%s: ran %s" % (what, f.read().strip().replace("\n", "; ")))
                    os.unlink(calls)
        print("%d scripts checked" % len(scripts(source)))
        failures += check_test_jobs(source, env, calls)
    return failures


def check_test_jobs(source, env, calls):
    """scripts/test takes the number of tests at once as make and ctest do (-j8, -j 8,
    --jobs 8, --jobs=8) and refuses one that is not a number. Its arguments are all
    read before it installs or builds anything, so a --help after them shows that
    they were accepted without running the suite."""
    failures = []
    script = os.path.join(source, "scripts", "test")
    for args, code in ((["-j8"], 0), (["-j", "8"], 0), (["--jobs", "8"], 0), (["--jobs=8"], 0),
                       (["-jx"], 2), (["--jobs=0"], 2), (["--jobs", "many"], 2)):
        p = subprocess.run([script] + args + ["--help"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        what = "scripts/test %s --help" % " ".join(args)
        if p.returncode != code:
            failures.append("%s: exit %d, not %d\n  stderr: %s" % (what, p.returncode, code,
                                                                   p.stderr[-400:]))
        elif code == 2 and "takes a number" not in p.stderr:
            failures.append("%s: the error does not say a number is expected:\n%s"
                            % (what, p.stderr))
        if os.path.exists(calls):
            with open(calls) as f:
                failures.append("%s: ran %s" % (what, f.read().strip().replace("\n", "; ")))
            os.unlink(calls)
    return failures


def readme_tables(source):
    """The package names of each table in the README's Dependencies section."""
    with open(os.path.join(source, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Dependencies.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        return None
    tables, current = [], None
    for line in m.group(1).splitlines():
        if line.startswith("| package "):
            current = []
            tables.append(current)
        elif line.startswith("| `") and current is not None:
            current += re.findall(r"`([^`]+)`", line.split("|")[1])
        elif not line.startswith("|"):
            current = None
    return tables


def check_packages(source):
    setup = os.path.join(source, "scripts", "setup")
    run = lambda *a: subprocess.run([setup] + list(a), capture_output=True, text=True,
                                    timeout=30, check=True).stdout.split()
    everything, engine = run("--list"), run("--engine", "--list")
    fuzz = run("--fuzz", "--list")
    tables = readme_tables(source)
    if not tables or len(tables) != 3:
        return ["README.md: expected three package tables under '## Dependencies', found %s"
                % (len(tables) if tables else 0)]
    failures = []
    for label, want, got in (("engine (first table)", engine, tables[0]),
                             ("everything (first two tables)", everything, tables[0] + tables[1]),
                             ("with --fuzz (all three tables)", fuzz,
                              tables[0] + tables[1] + tables[2])):
        if sorted(want) != sorted(got):
            failures.append("%s: scripts/setup has %s; README.md has %s; only in setup: %s; "
                            "only in README: %s" % (label, len(want), len(got),
                                                    sorted(set(want) - set(got)),
                                                    sorted(set(got) - set(want))))
    print("%d packages, %d of them the engine's" % (len(everything), len(engine)))
    return failures


TUNE_RULES = """\
TEST_PILLS  body  /\\bcheap pills\\b/i  2.0  "pills"
TEST_NOW    subject  /\\bnow\\b/i  1.0  "now"
meta TEST_BOTH  (TEST_PILLS + TEST_NOW) >= 2  4.0  "pills now"
"""


def mail(subject, body):
    return "From: a@example.org\nTo: b@example.net\nSubject: %s\nMessage-ID: <1@example.org>\n" \
           "Date: Mon, 1 Jan 2024 00:00:00 +0000\n\n%s\n" % (subject, body)


def check_tune_rules(source, build):
    """Four spam with both signs (2 + 1 + the meta's 4 = 7 points) and four ham
    with neither; at a threshold of 6 only the meta's points catch the spam."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for cls, subject, body in (("spam", "buy now", "cheap pills here"), ("ham", "lunch", "see you")):
            os.makedirs(os.path.join(tmp, cls))
            for i in range(4):
                with open(os.path.join(tmp, cls, "%d.eml" % i), "w") as f:
                    f.write(mail(subject, body + " %d" % i))
        rules = os.path.join(tmp, "test.rules")
        with open(rules, "w") as f:
            f.write(TUNE_RULES)
        out = os.path.join(tmp, "out.rules")
        proc = subprocess.run([os.path.join(source, "scripts", "tune-rules"), tmp, "--rules", rules,
                               "--build", build, "--holdout", "0", "--threshold", "6",
                               "--quarantine", "7", "--min-hits", "1", "--write", out],
                              capture_output=True, text=True)
        print(proc.stdout)
        if proc.returncode != 0:
            return ["tune-rules exited %d: %s" % (proc.returncode, proc.stderr.strip())]
        current = [l for l in proc.stdout.splitlines() if "current scores" in l and "0/0 " not in l]
        caught = [l for l in current if "spam     4/4" in l and "ham     0/4" in l]
        if len(caught) != len(current) or not current:
            failures.append("the meta's points were not counted: every 'current scores' line "
                            "should have spam 4/4 and ham 0/4")
        if not re.search(r"^TEST_BOTH\s.*\(kept\)$", proc.stdout, re.M):
            failures.append("the meta is not listed as kept")
        written = open(out).read()
        if "(TEST_PILLS + TEST_NOW) >= 2  4.0" not in written:
            failures.append("the meta's line changed in the written rules:\n" + written)
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("check", choices=("help", "packages", "tune-rules"))
    ap.add_argument("--source", required=True)
    ap.add_argument("--build")
    a = ap.parse_args()
    if a.check == "tune-rules":
        failures = check_tune_rules(a.source, a.build)
    else:
        failures = check_help(a.source) if a.check == "help" else check_packages(a.source)
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
