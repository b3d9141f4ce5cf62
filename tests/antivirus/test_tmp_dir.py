"""Where libclamav's per-scan scratch files go: an empty tmp_dir picks /dev/shm when
it is a writable tmpfs with 1 GiB free (else the default), an explicit one is used
as given, and one that is not a directory, or that the user cannot make a
directory in (libclamav makes one there for every scan), fails init. Each case is checked through
the module's log line and exit status from smf-modtest. A process's scratch files go in
a folder of its own, tmp_dir/smf-av.PID, removed when it ends; one left by a process that
is gone (killed mid-scan) is removed when the module next starts, and nothing else is.
Also the size limits' range:
libclamav scans no file of 2 GiB or more, so max_file_size stops at 2047 MB."""

import os
import shutil
import subprocess
import sys
import tempfile


def run(modtest, module, etc, mail, *opts, preexec=None):
    cmd = [modtest, "-m", module, "--config-dir", etc, "-o", 'database_dir="/nonexistent"']
    for o in opts:
        cmd += ["-o", o]
    return subprocess.run(cmd + [mail], capture_output=True, text=True, timeout=120,
                          preexec_fn=preexec)


def as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def unwritable(modtest, module, etc, mail, tmp):
    """A tmp_dir the user may not write: root's own, with smf-modtest run as
    nobody when the test runs as root (root writes anywhere)."""
    locked = os.path.join(tmp, "locked")
    os.mkdir(locked)
    os.chmod(locked, 0o555)
    preexec = None
    if os.geteuid() == 0:
        os.chmod(tmp, 0o755)
        os.chmod(mail, 0o644)
        preexec = as_nobody
    return run(modtest, module, etc, mail, 'tmp_dir="%s"' % locked, preexec=preexec)


def dead_pid():
    """A pid no process has: a child's, once it has been waited for."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def leftovers(modtest, module, etc, mail, tmp):
    """The folder of a process that is gone goes, with what it holds; the folder of
    a live one, names that are not such folders, and a link stay; the run's own
    folder is gone when it ends."""
    base = os.path.join(tmp, "scratch")
    os.mkdir(base)
    gone = os.path.join(base, "smf-av.%d" % dead_pid())
    os.makedirs(os.path.join(gone, "20260101-clamav-scantemp.x"))
    with open(os.path.join(gone, "20260101-clamav-scantemp.x", "part"), "w") as f:
        f.write("left by a scan\n")
    outside = os.path.join(tmp, "outside")
    os.mkdir(outside)
    os.symlink(outside, os.path.join(gone, "link"))
    alive = os.path.join(base, "smf-av.%d" % os.getpid())
    keep = [alive, os.path.join(base, "smf-av.x"), os.path.join(base, "clamav-1234")]
    for k in keep:
        os.mkdir(k)
    r = run(modtest, module, etc, mail, 'tmp_dir="%s"' % base)
    fails = []
    if r.returncode != 0:
        fails.append("leftovers: rc=%d: %s" % (r.returncode, r.stderr[-300:]))
    if os.path.exists(gone) or "left by process" not in r.stderr:
        fails.append("the folder of a process that is gone stayed: %s" % r.stderr[-300:])
    if not os.path.isdir(outside):
        fails.append("the sweep followed a link out of the folder")
    left = sorted(os.listdir(base))
    if left != sorted(os.path.basename(k) for k in keep):
        fails.append("tmp_dir after the run holds %s" % left)
    return fails


def main():
    modtest, module, etc = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="smf-av-tmp-")
    try:
        return check(modtest, module, etc, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(modtest, module, etc, tmp):
    mail = os.path.join(tmp, "m.eml")
    with open(mail, "w") as f:
        f.write("From: a@example.net\nSubject: hi\n\nhello\n")
    failures = []
    vfs = os.statvfs("/dev/shm") if os.path.isdir("/dev/shm") else None
    shm_ok = (vfs is not None and os.access("/dev/shm", os.W_OK | os.X_OK)
              and vfs.f_bavail * vfs.f_frsize >= 1 << 30)
    r = run(modtest, module, etc, mail)
    picked = "scratch files go to /dev/shm" in r.stderr
    if r.returncode != 0 or picked != shm_ok:
        failures.append("automatic: /dev/shm usable=%s, picked=%s, rc=%d: %s"
                        % (shm_ok, picked, r.returncode, r.stderr[-300:]))
    r = run(modtest, module, etc, mail, 'tmp_dir="%s"' % tmp)
    if r.returncode != 0 or "scratch files go to" in r.stderr:
        failures.append("explicit tmp_dir: rc=%d: %s" % (r.returncode, r.stderr[-300:]))
    r = run(modtest, module, etc, mail, 'tmp_dir="%s"' % mail)
    if r.returncode != 2 or "is not a directory" not in r.stderr:
        failures.append("tmp_dir that is a file: rc=%d: %s" % (r.returncode, r.stderr[-300:]))
    r = unwritable(modtest, module, etc, mail, tmp)
    if r.returncode != 2 or "cannot make a directory in it" not in r.stderr:
        failures.append("unwritable tmp_dir: rc=%d: %s" % (r.returncode, r.stderr[-300:]))
    r = run(modtest, module, etc, mail, "max_file_size=2047")
    if r.returncode != 0:
        failures.append("max_file_size=2047: rc=%d: %s" % (r.returncode, r.stderr[-300:]))
    r = run(modtest, module, etc, mail, "max_file_size=2048")
    if r.returncode != 2 or "max_file_size = 2048 is out of range (1 to 2047)" not in r.stderr:
        failures.append("max_file_size=2048: rc=%d: %s" % (r.returncode, r.stderr[-300:]))
    failures += leftovers(modtest, module, etc, mail, tmp)
    for f in failures:
        print("FAIL", f)
    print("%d passed, %d failed" % (7 - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
