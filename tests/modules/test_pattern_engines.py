#!/usr/bin/python3
"""Tests of the pattern module's database cache, its engines and its profile mode:
a second start loads the cache, a damaged cache file is rebuilt, engine = "pcre2"
gives the same results as Hyperscan on the whole pattern test table, and the
profile mode and smf-rules-profile report each rule's hits."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import modtest
import test_pattern

ETC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc")
INIT_RE = re.compile(r"(\d+) rules in \d+ targets, engine (\w+); databases: (\d+) from cache, "
                     r"(\d+) compiled \(([\d.]+) ms\)")


def scan(args, files, opts=(), data_dir=None, config_dir=ETC):
    """Runs smf-modtest; returns (exit status, {file name: result}, init figures, stderr)."""
    cmd = [args.modtest, "-m", args.module, "--config-dir", config_dir]
    for o in opts:
        cmd += ["-o", o]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    proc = subprocess.run(cmd + files, capture_output=True, text=True, timeout=120)
    results = {}
    for line in proc.stdout.splitlines():
        j = json.loads(line)
        results[os.path.basename(j["file"])] = (j["status"], j["verdict"],
                                                sorted((s["name"], s["score"]) for s in j["symbols"]))
    m = INIT_RE.search(proc.stderr)
    init = None
    if m:
        init = {"rules": int(m.group(1)), "engine": m.group(2), "cached": int(m.group(3)),
                "compiled": int(m.group(4)), "ms": float(m.group(5))}
    return proc.returncode, results, init, proc.stderr


class Checks:
    def __init__(self):
        self.failed = 0
        self.count = 0

    def check(self, name, fails):
        self.count += 1
        print("%s %s" % ("ok  " if not fails else "FAIL", name))
        for f in fails:
            print("       " + f)
        self.failed += bool(fails)


def expect(cond, text):
    return [] if cond else [text]


def cache_cases(args, ck, fixtures):
    data = tempfile.mkdtemp(prefix="smf-pattern-cache.")
    try:
        rc1, r1, i1, e1 = scan(args, fixtures, data_dir=data)
        ck.check("first start compiles and fills the cache",
                 expect(rc1 == 0 and i1 and i1["compiled"] > 0 and i1["cached"] == 0, "init: %s %s" % (i1, e1))
                 + expect(len(glob.glob(os.path.join(data, "pattern", "cache", "*.hsdb"))) == (i1 or {}).get("compiled"),
                          "one cache file per compiled database"))
        rc2, r2, i2, e2 = scan(args, fixtures, data_dir=data)
        ck.check("second start loads every database from the cache",
                 expect(rc2 == 0 and i2 and i2["compiled"] == 0 and i2["cached"] == i1["compiled"], "init: %s" % i2))
        ck.check("results from cached databases are identical", expect(r1 == r2 and len(r1) == len(fixtures), "results differ"))
        files = sorted(glob.glob(os.path.join(data, "pattern", "cache", "*.hsdb")))
        # Damage each file in a different way: flipped bytes, a cut, and emptiness.
        for n, path in enumerate(files):
            blob = bytearray(open(path, "rb").read())
            if n % 3 == 0:
                for k in range(len(blob) // 2, min(len(blob), len(blob) // 2 + 16)):
                    blob[k] ^= 0x5A
            elif n % 3 == 1:
                blob = blob[: len(blob) // 3]
            else:
                blob = b""
            open(path, "wb").write(bytes(blob))
        rc3, r3, i3, e3 = scan(args, fixtures, data_dir=data)
        ck.check("damaged cache files are ignored and rebuilt",
                 expect(rc3 == 0 and i3 and i3["cached"] == 0 and i3["compiled"] == i1["compiled"], "init: %s" % i3)
                 + expect(e3.count("damaged cache file") == len(files), "damage not logged per file: %s" % e3)
                 + expect(r3 == r1, "results differ after a damaged cache"))
        rc4, r4, i4, _ = scan(args, fixtures, data_dir=data)
        ck.check("rebuilt cache is used again",
                 expect(i4 and i4["cached"] == i1["compiled"] and r4 == r1, "init: %s" % i4))
        # Files of rules no longer in use are removed after 30 days unused, and temporary
        # files of a writer that died after an hour; a file in use is stamped at each load.
        cache = os.path.join(data, "pattern", "cache")
        old, fresh, tmp = (os.path.join(cache, n) for n in
                           ("00000000deadbeef.hsdb", "00000000feedface.hsdb", "x.hsdb.42.tmp"))
        for path, age in ((old, 31 * 86400), (fresh, 29 * 86400), (tmp, 7200)):
            open(path, "wb").write(b"SMFHSDB2")
            os.utime(path, (time.time() - age, time.time() - age))
        for path in files:
            os.utime(path, (time.time() - 10 * 86400, time.time() - 10 * 86400))
        _, _, i6, _ = scan(args, fixtures, data_dir=data)
        swept = sorted(glob.glob(os.path.join(cache, "*")))
        ck.check("cache files unused for 30 days go, the rest stay",
                 expect(old not in swept and tmp not in swept and fresh in swept, "left: %s" % swept)
                 + expect(i6 and i6["cached"] == i1["compiled"], "init: %s" % i6)
                 + expect(all(os.path.getmtime(p) > time.time() - 3600 for p in files),
                          "the files of the rules in use were not stamped when loaded"))
        rc5, _, i5, _ = scan(args, fixtures, opts=["cache=false"], data_dir=data)
        ck.check("cache = false compiles", expect(i5 and i5["cached"] == 0 and i5["compiled"] == i1["compiled"], "init: %s" % i5))
    finally:
        shutil.rmtree(data, ignore_errors=True)


# T_EMPTY passes Hyperscan's first check but not its compiler: the cached database
# holds T_ONE and T_TWO, and the file keeps their positions, 0 and 2.
KEPT_RULES = ("T_ONE body /hello/ 1\n"
              "T_EMPTY body /x*/ 1\n"
              "T_TWO body /zzz/ 1\n")


def kept_cases(args, ck):
    """A cache file whose positions of the rules it holds were altered is rebuilt,
    not read: read, it would report the matches of one rule as another's."""
    tmp = tempfile.mkdtemp(prefix="smf-pattern-kept.")
    try:
        rules = os.path.join(tmp, "kept.rules")
        with open(rules, "w") as f:
            f.write(KEPT_RULES)
        mail = os.path.join(tmp, "hello.eml")
        with open(mail, "w") as f:
            f.write("From: a@b.example\nSubject: hello\n\nhello world\n")
        data = os.path.join(tmp, "data")
        opts = ['rules={"%s"}' % rules]
        rc1, r1, i1, e1 = scan(args, [mail], opts=opts, data_dir=data)
        files = glob.glob(os.path.join(data, "pattern", "cache", "*.hsdb"))
        blob = bytearray(open(files[0], "rb").read()) if len(files) == 1 else bytearray()
        # magic (8), key (8), count of kept positions (8), then the positions.
        kept = [int.from_bytes(blob[24 + 4 * k:28 + 4 * k], sys.byteorder) for k in range(2)]
        ck.check("a rule Hyperscan's compiler refuses is left out of the cached database",
                 expect(rc1 == 0 and i1 and i1["compiled"] == 1, "init: %s %s" % (i1, e1))
                 + expect(kept == [0, 2], "kept positions %s" % kept)
                 + expect(r1.get("hello.eml", (0, 0, []))[2] == [("T_EMPTY", 1.0), ("T_ONE", 1.0)],
                          "results %s" % r1))
        if kept == [0, 2]:
            blob[28:32] = (1).to_bytes(4, sys.byteorder)
            with open(files[0], "wb") as f:
                f.write(bytes(blob))
        rc2, r2, i2, e2 = scan(args, [mail], opts=opts, data_dir=data)
        ck.check("a cache file with altered positions is rebuilt, not read",
                 expect(rc2 == 0 and i2 and i2["cached"] == 0 and i2["compiled"] == 1,
                        "init: %s" % i2)
                 + expect("damaged cache file" in e2, "not logged as damaged: %s" % e2)
                 + expect(r2 == r1, "results differ: %s, not %s" % (r2, r1)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def special_file_cases(args, ck, fixtures):
    """A rule file that is a FIFO, a device or a folder stops init with its name,
    without waiting for a writer or reading without end."""
    tmp = tempfile.mkdtemp(prefix="smf-pattern-fifo.")
    try:
        fifo = os.path.join(tmp, "rules.fifo")
        os.mkfifo(fifo)
        for path, why in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"),
                          (tmp, "a directory")):
            cmd = [args.modtest, "-m", args.module, "-o", 'rules={"%s"}' % path,
                   "-o", "cache=false", fixtures[0]]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
                fails = (expect(p.returncode == 2, "exit %d" % p.returncode)
                         + expect(path in p.stderr and why in p.stderr, p.stderr))
            except subprocess.TimeoutExpired:
                fails = ["init still waiting after 15 s"]
            ck.check("rule file %s refused" % os.path.basename(path), fails)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def engine_cases(args, ck, fixtures, data):
    _, ra, ia, _ = scan(args, fixtures, data_dir=data)
    _, rp, ip, _ = scan(args, fixtures, opts=['engine="pcre2"'], data_dir=data)
    ck.check("engine = pcre2 runs every rule on PCRE2",
             expect(ip and ip["engine"] == "pcre2" and ip["compiled"] == 0, "init: %s" % ip)
             + expect(ia and ia["engine"] == "hyperscan" and ia["compiled"] > 0, "init: %s" % ia))
    ck.check("default rules: identical results on every fixture with both engines",
             expect(ra == rp and any(v[2] for v in ra.values()), "differ: %s" % sorted(
                 k for k in ra if ra.get(k) != rp.get(k))))
    rc, _, _, err = scan(args, fixtures[:1], opts=['engine="turbo"'])
    ck.check("unknown engine refused", expect(rc == 2 and "engine must be" in err, "rc %d: %s" % (rc, err)))
    # The whole pattern test table, once per engine: every case must pass and agree.
    for case in test_pattern.CASES:
        config_dir = ETC if case.get("defaults") else args.fixtures
        outs = []
        for eng in ("auto", "pcre2"):
            c = dict(case, opts=case.get("opts", []) + ['engine="%s"' % eng], config_dir=config_dir,
                     data_dir=data)
            c.pop("defaults", None)
            fails = modtest.run_case(args, c)
            rc, res, _, _ = scan(args, [os.path.join(args.fixtures, case["fixture"])], c["opts"], data,
                                 config_dir)
            outs.append((fails, rc, res))
        fails = ["pcre2: " + f for f in outs[1][0]] + ["hyperscan: " + f for f in outs[0][0]]
        fails += expect(outs[0][1:] == outs[1][1:], "engines disagree: %s vs %s" % (outs[0][1:], outs[1][1:]))
        ck.check("both engines: " + case["name"], fails)


def profile_cases(args, ck, fixtures):
    tmp = tempfile.mkdtemp(prefix="smf-pattern-profile.")
    try:
        prof = os.path.join(tmp, "p.tsv")
        _, rprof, _, _ = scan(args, fixtures, opts=['profile="%s"' % prof])
        _, rplain, _, _ = scan(args, fixtures)
        rows = {}
        for line in open(prof):
            cols = line.rstrip("\n").split("\t")
            if not line.startswith("#"):
                rows[cols[0]] = cols
        fired = {}
        for status, verdict, syms in rplain.values():
            for name, _score in syms:
                fired[name] = fired.get(name, 0) + 1
        # A "__" rule only feeds metas: it has hits but never a symbol to compare them with.
        bad = [n for n, c in rows.items()
               if not n.startswith("__") and int(c[4]) != fired.get(n, 0)]
        ck.check("profile mode leaves results alone", expect(rprof == rplain, "results differ in profile mode"))
        ck.check("profile counts each rule's hits as the real scan fires it",
                 expect(rows and not bad and int(rows["PAT_GTUBE"][4]) == 1, "wrong hits for %s" % bad)
                 + expect(all(int(c[3]) > 0 for c in rows.values()), "a rule has no time"))
        corpus = os.path.join(tmp, "corpus")
        os.makedirs(os.path.join(corpus, "ham"))
        os.makedirs(os.path.join(corpus, "spam"))
        for name, cls in (("plain.eml", "ham"), ("gtube.eml", "spam"), ("spam_phrases.eml", "spam")):
            shutil.copy(os.path.join(args.fixtures, name), os.path.join(corpus, cls))
        tool = os.path.join(os.path.dirname(args.modtest), "smf-rules-profile")
        proc = subprocess.run([tool, os.path.join(ETC, "rules", "default.rules"), corpus],
                              capture_output=True, text=True, timeout=120)
        lines = {l.split()[0]: l.split() for l in proc.stdout.splitlines()[2:] if l.strip()}
        ck.check("smf-rules-profile splits hits into ham and spam",
                 expect(proc.returncode == 0, "exit %d: %s" % (proc.returncode, proc.stderr))
                 + expect(lines.get("PAT_GTUBE", [])[-2:] == ["0", "1"], "PAT_GTUBE row: %s" % lines.get("PAT_GTUBE"))
                 + expect(lines.get("PAT_LOTTERY", [])[-2:] == ["0", "1"], "PAT_LOTTERY row: %s" % lines.get("PAT_LOTTERY"))
                 + expect(len(lines) == len(rows), "%d rows, expected %d" % (len(lines), len(rows))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = modtest.parse_args()
    fixtures = sorted(glob.glob(os.path.join(args.fixtures, "*.eml")))
    ck = Checks()
    cache_cases(args, ck, fixtures)
    kept_cases(args, ck)
    special_file_cases(args, ck, fixtures)
    # The engine comparison starts the module four times per case of the
    # pattern table; a fresh data folder shared by those starts lets each rule
    # set compile once (the first start below) and load from the cache after.
    data = tempfile.mkdtemp(prefix="smf-pattern-engines.")
    try:
        engine_cases(args, ck, fixtures, data)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    profile_cases(args, ck, fixtures)
    print("%d of %d cases failed" % (ck.failed, ck.count))
    sys.exit(1 if ck.failed else 0)


if __name__ == "__main__":
    main()
