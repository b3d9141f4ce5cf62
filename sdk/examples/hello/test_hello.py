#!/usr/bin/python3
"""Test of the example module: HELLO_WORD on a matching mail only, X-Hello always."""
import argparse
import json
import os
import subprocess
import sys


def scan(args, fixture, *opts):
    cmd = [args.modtest, "-m", args.module]
    for o in opts:
        cmd += ["-o", o]
    cmd.append(os.path.join(args.fixtures, fixture))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modtest", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--fixtures", required=True)
    args = ap.parse_args()
    fails = []

    rc, out, err = scan(args, "match.eml")
    res = json.loads(out)
    names = [s["name"] for s in res["symbols"]]
    if rc != 0 or res["status"] != "detected" or names != ["HELLO_WORD"]:
        fails.append("match.eml: rc %d status %s symbols %s" % (rc, res["status"], names))
    if {"name": "X-Hello", "value": "hello from smf"} not in res["headers"]:
        fails.append("match.eml: X-Hello not added: %s" % res["headers"])

    rc, out, err = scan(args, "nomatch.eml")
    res = json.loads(out)
    if rc != 0 or res["status"] != "clean" or res["symbols"]:
        fails.append("nomatch.eml: rc %d status %s symbols %s" % (rc, res["status"], res["symbols"]))

    rc, out, err = scan(args, "nomatch.eml", "words={minutes}", "score=2.5", "greeting=hi")
    res = json.loads(out)
    if [(s["name"], s["score"]) for s in res["symbols"]] != [("HELLO_WORD", 2.5)]:
        fails.append("options: symbols %s" % res["symbols"])
    if {"name": "X-Hello", "value": "hi"} not in res["headers"]:
        fails.append("options: X-Hello %s" % res["headers"])

    rc, out, err = scan(args, "nomatch.eml", "score=-1")
    if rc != 2 or "score must not be negative" not in err:
        fails.append("negative score: rc %d stderr %r" % (rc, err))

    for f in fails:
        print("FAIL " + f)
    print("ok" if not fails else "%d failures" % len(fails))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
