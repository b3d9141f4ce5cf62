"""Table-driven runner for module tests over smf-modtest.

Each case runs smf-modtest once and checks its JSON line (or, for refusal
cases, its exit status and stderr). Standard library only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modtest", required=True, help="path of smf-modtest")
    ap.add_argument("--module", required=True, help="path of the module .so")
    ap.add_argument("--fixtures", required=True, help="fixture folder")
    ap.add_argument("--config-dir", help="passed to smf-modtest --config-dir")
    ap.add_argument("--shims", help="folder of the preloaded test shims (build/test-shims)")
    return ap.parse_args()


def run_case(args, case):
    """Runs one case; returns a list of failure messages (empty when it passed)."""
    cmd = [args.modtest, "-m", args.module]
    for opt in case.get("opts", []):
        cmd += ["-o", opt]
    config_dir = case.get("config_dir", args.config_dir)
    if config_dir:
        cmd += ["--config-dir", config_dir]
    if case.get("data_dir"):
        cmd += ["--data-dir", case["data_dir"]]
    cmd += case.get("args", [])
    cmd.append(os.path.join(args.fixtures, case["fixture"]))
    env, count = None, None
    if "inflated_max" in case or "crc32_max" in case:
        # The shim counts what zlib inflates, and what its crc32() sums, in the scan. A
        # sanitizer build wants its runtime first; the shim only wraps inflate() and crc32().
        if not args.shims:
            return ["inflated_max and crc32_max need --shims"]
        fd, count = tempfile.mkstemp(prefix="smf-inflated-")
        os.close(fd)
        env = dict(os.environ, LD_PRELOAD=os.path.join(args.shims, "inflate_count.so"), SMF_INFLATE_COUNT=count,
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
    # Programs a scan must never start: each name is a script first in PATH that
    # leaves a mark when run.
    bin_dir = None
    if case.get("no_programs"):
        bin_dir = tempfile.mkdtemp(prefix="smf-no-programs-")
        for name in case["no_programs"]:
            path = os.path.join(bin_dir, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\necho \"$0\" >> %s/ran\ncat >/dev/null\nexit 1\n" % bin_dir)
            os.chmod(path, 0o755)
        env = dict(env or os.environ, PATH=bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        inflated, summed = None, None
        if count is not None:
            with open(count) as f:
                text = f.read().split()
            if len(text) == 2:
                inflated, summed = int(text[0]), int(text[1])
        ran = []
        if bin_dir is not None and os.path.exists(os.path.join(bin_dir, "ran")):
            with open(os.path.join(bin_dir, "ran")) as f:
                ran = [os.path.basename(l) for l in f.read().split()]
    finally:
        if count is not None:
            os.unlink(count)
        if bin_dir is not None:
            shutil.rmtree(bin_dir)
    fails = []
    if ran:
        fails.append("the scan ran %s" % ", ".join(ran))
    if "inflated_max" in case and (inflated is None or inflated > case["inflated_max"]):
        fails.append("inflated %s bytes, more than %d" % (inflated, case["inflated_max"]))
    if "crc32_max" in case and (summed is None or summed > case["crc32_max"]):
        fails.append("crc32 summed %s bytes, more than %d" % (summed, case["crc32_max"]))
    want_rc = case.get("rc", 0)
    if proc.returncode != want_rc:
        fails.append("exit status %d, expected %d (stderr: %s)" % (proc.returncode, want_rc, proc.stderr.strip()))
    for text in case.get("stderr", []):
        if text not in proc.stderr:
            fails.append("stderr lacks %r: %s" % (text, proc.stderr.strip()))
    if want_rc != 0 or fails:
        return fails
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    if len(lines) != 1:
        return ["expected one JSON line, got %d: %s" % (len(lines), proc.stdout)]
    return check_result(json.loads(lines[0]), case)


def check_result(res, case):
    fails = []
    syms = {s["name"]: s for s in res["symbols"]}
    if "max_ms" in case and res["ms"] > case["max_ms"]:
        fails.append("scan took %.0f ms, more than %d" % (res["ms"], case["max_ms"]))
    for name in case.get("present", []):
        if name not in syms:
            fails.append("symbol %s missing (got %s)" % (name, sorted(syms)))
    for name in case.get("absent", []):
        if name in syms:
            fails.append("symbol %s present: %s" % (name, syms[name]))
    if "only" in case and sorted(syms) != sorted(case["only"]):
        fails.append("symbols %s, expected exactly %s" % (sorted(syms), sorted(case["only"])))
    for name, score in case.get("scores", {}).items():
        if name in syms and abs(syms[name]["score"] - score) > 1e-9:
            fails.append("%s score %s, expected %s" % (name, syms[name]["score"], score))
    for name, text in case.get("details", {}).items():
        if name in syms and text not in (syms[name]["detail"] or ""):
            fails.append("%s detail %r lacks %r" % (name, syms[name]["detail"], text))
    for key in ("status", "verdict", "unscannable"):
        if key in case and res[key] != case[key]:
            fails.append("%s is %r, expected %r" % (key, res[key], case[key]))
    for name, value in case.get("headers", {}).items():
        if {"name": name, "value": value} not in res["headers"]:
            fails.append("header %s: %s not added (got %s)" % (name, value, res["headers"]))
    return fails


def main(cases):
    args = parse_args()
    failed = 0
    for case in cases:
        fails = run_case(args, case)
        print("%s %s" % ("ok  " if not fails else "FAIL", case["name"]))
        for f in fails:
            print("       " + f)
        failed += bool(fails)
    print("%d of %d cases failed" % (failed, len(cases)))
    sys.exit(1 if failed else 0)
