"""smf_kv_next (ABI 1.5) as a module meets it, through smf-modtest and the
engine's test module: keys come in byte order, a key before every longer key
it begins; a key longer than the 255 bytes a module can write (another
tool's) is passed over; the walk ends with SMF_ENOENT; a walk resumes after a
key the store lacks, and refuses one longer than 255 bytes."""

import json
import os
import subprocess
import sys
import tempfile


def load(data, db, records):
    """Writes {key bytes: value bytes} into one namespace of the store (mdb_load)."""
    text = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n" + "".join(
        " %s\n %s\n" % (k.hex(), v.hex()) for k, v in records.items()) + "DATA=END\n"
    p = subprocess.run(["mdb_load", "-s", db, os.path.join(data, "kv")], input=text,
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise SystemExit("mdb_load: %s" % p.stderr)


def symbols(modtest, module, data, fixture):
    p = subprocess.run([modtest, "-m", module, "--data-dir", data, fixture],
                       capture_output=True, text=True, timeout=60)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        raise SystemExit("smf-modtest: exit %d: %s" % (p.returncode, p.stderr))
    return {s["name"]: s.get("detail") for s in json.loads(lines[0])["symbols"]}


def arena_full(modtest, module, data, tmp):
    """What smf_kv_next and smf_kv_get return once the module used up its share."""
    fixture = os.path.join(tmp, "full.eml")
    with open(fixture, "w") as f:
        f.write("From: a@example.net\nTo: b@example.com\nSubject: full\n\nKV-ARENA-FULL\n")
    p = subprocess.run([modtest, "-m", module, "--data-dir", data, fixture],
                       capture_output=True, text=True, timeout=60)
    for line in (p.stdout + p.stderr).splitlines():
        if "arena used up:" in line:
            return line.split("arena used up:", 1)[1].strip()
    raise SystemExit("smf-modtest: no arena line: exit %d: %s" % (p.returncode, p.stderr))


def main():
    modtest, module = sys.argv[1:3]
    failures = []
    with tempfile.TemporaryDirectory(prefix="smf-kv-walk-") as tmp:
        data = os.path.join(tmp, "data")
        fixture = os.path.join(tmp, "walk.eml")
        with open(fixture, "w") as f:
            f.write("From: a@example.net\nTo: b@example.com\nSubject: walk\n\nWALK-KV\n")
        # The first run makes the store: the module's namespace is empty.
        got = symbols(modtest, module, data, fixture)
        if got.get("T_WALK") != "end=no such item":
            failures.append("empty store: T_WALK %r" % got.get("T_WALK"))
        load(data, "tcontent", {b"b": b"3", b"c": b"4", b"a": b"1", b"ab": b"2",
                                b"a" + b"x" * 300: b"long"})
        got = symbols(modtest, module, data, fixture)
        want = "a=1 ab=2 b=3 c=4 end=no such item"
        if got.get("T_WALK") != want:
            failures.append("walk: T_WALK %r, want %r" % (got.get("T_WALK"), want))
        want = "after aa: ab; after 256 bytes: invalid argument"
        if got.get("T_WALK_RESUME") != want:
            failures.append("resume: %r, want %r" % (got.get("T_WALK_RESUME"), want))
        got = arena_full(modtest, module, data, tmp)
        want = "next {0}, get {0}".format("out of memory or message arena full")
        if got != want:
            failures.append("arena used up: %r, want %r" % (got, want))
    for f in failures:
        print("FAIL", f)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
