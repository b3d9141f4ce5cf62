"""A database directory, or a database file in it, that the user cannot read
fails init: libclamav would load nothing from the whole directory and only
say it found no database there, and the module would start on the other
signature files alone. A missing directory stays a note. A damaged
database fails init with a message that says how to get a whole one back.

Usage: test_database_errors.py SMF_MODTEST ANTIVIRUS_SO ETC_DIR"""

import os
import shutil
import subprocess
import sys
import tempfile


def as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def run(modtest, module, etc, mail, db, *opts):
    # Root reads everything: run as nobody then, with the files root's own.
    cmd = [modtest, "-m", module, "--config-dir", etc, "-o", 'database_dir="%s"' % db]
    for o in opts:
        cmd += ["-o", o]
    cmd.append(mail)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          preexec_fn=as_nobody if os.geteuid() == 0 else None)


def main():
    modtest, module, etc = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="smf-av-db-")
    try:
        return check(modtest, module, etc, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(modtest, module, etc, tmp):
    os.chmod(tmp, 0o755)
    mail = os.path.join(tmp, "m.eml")
    with open(mail, "w") as f:
        f.write("From: a@example.net\nSubject: hi\n\nhello\n")
    os.chmod(mail, 0o644)
    ndb = os.path.join(etc, "signatures", "smf-test.ndb")
    closed_dir = os.path.join(tmp, "closed")
    os.mkdir(closed_dir)
    shutil.copy(ndb, closed_dir)
    os.chmod(closed_dir, 0o300)
    closed_file = os.path.join(tmp, "closed-file")
    os.mkdir(closed_file)
    shutil.copy(ndb, closed_file)
    shutil.copy(ndb, os.path.join(closed_file, "daily.ndb"))
    os.chmod(os.path.join(closed_file, "daily.ndb"), 0o200)
    failures = []
    for db, expect in ((closed_dir, "cannot read database_dir %s" % closed_dir),
                       (closed_file, "cannot read %s/daily.ndb" % closed_file)):
        r = run(modtest, module, etc, mail, db)
        if r.returncode != 2 or expect not in r.stderr:
            failures.append("%s: rc=%d, expected 2 and %r: %s"
                            % (db, r.returncode, expect, r.stderr[-400:]))
    r = run(modtest, module, etc, mail, os.path.join(tmp, "missing"))
    if r.returncode != 0:
        failures.append("missing database_dir: rc=%d: %s" % (r.returncode, r.stderr[-400:]))
    damaged = os.path.join(tmp, "damaged")
    os.mkdir(damaged)
    with open(os.path.join(damaged, "daily.cvd"), "w") as f:
        f.write("written half-way\n")
    os.chmod(damaged, 0o755)
    os.chmod(os.path.join(damaged, "daily.cvd"), 0o644)
    bad_ndb = os.path.join(tmp, "bad.ndb")
    with open(bad_ndb, "w") as f:
        f.write("bad:line:::\n")
    os.chmod(bad_ndb, 0o644)
    for db, opts, expect in (
            (damaged, (), "run freshclam to download the databases again, or remove the "
             "damaged file"),
            (os.path.join(tmp, "missing"), ('signature_files={"%s"}' % bad_ndb,),
             "take it out of signature_files")):
        r = run(modtest, module, etc, mail, db, *opts)
        if r.returncode != 2 or expect not in r.stderr:
            failures.append("damaged %s: rc=%d, expected 2 and %r: %s"
                            % (db, r.returncode, expect, r.stderr[-400:]))
    for f in failures:
        print("FAIL", f)
    print("%d passed, %d failed" % (5 - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
