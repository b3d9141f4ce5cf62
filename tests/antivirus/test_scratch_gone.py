"""A scan whose scratch directory libclamav cannot make is an error, never
clean: libclamav 1.4 then returns "clean" without having read the data. The
tmp_dir is removed once the module is ready, then a message with EICAR is
handed over through a FIFO, which smf-modtest opens only after init; the
message must come out as an error (tempfail).

Usage: test_scratch_gone.py SMF_MODTEST ANTIVIRUS_SO ETC_DIR"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import EICAR, b64_attachment, greeting, message, to_bytes  # noqa: E402


def main():
    modtest, module, etc = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="smf-av-scratch-")
    try:
        return check(modtest, module, etc, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(modtest, module, etc, tmp):
    scratch = os.path.join(tmp, "scratch")
    os.makedirs(scratch)
    fifo = os.path.join(tmp, "m.eml")
    os.mkfifo(fifo)
    cmd = [modtest, "-m", module, "--config-dir", etc, "-o", 'database_dir="/nonexistent"',
           "-o", 'tmp_dir="%s"' % scratch, fifo]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = []
    for line in proc.stderr:
        log.append(line)
        if "ready with" in line:
            break
    else:
        proc.wait()
        print("FAIL: the module did not start:\n" + "".join(log))
        return 1
    shutil.rmtree(scratch)
    with open(fifo, "wb") as f:
        f.write(to_bytes(message("eicar", [greeting(), b64_attachment(EICAR, "eicar.com")])))
    out, err = proc.communicate(timeout=120)
    log.append(err)
    results = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    status = results[0].get("status") if results else None
    if status != "error" or "cannot make its scratch directory" not in err:
        print("FAIL: status %s, expected error:\n%s" % (status, "".join(log)[-3000:]))
        return 1
    print("ok: status error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
