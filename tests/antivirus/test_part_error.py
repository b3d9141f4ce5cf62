"""A part libclamav fails on does not hide a virus in another part. Scratch
files that cannot be written (as on a full tmpfs) are stood in for by a file
size limit of 1 MB on smf-modtest: libclamav then fails to extract a 4 MB zip
member, while EICAR in the next part needs no scratch file. The message must
come out detected; without the EICAR part it must come out as an error
(tempfail), never clean.

Usage: test_part_error.py SMF_MODTEST ANTIVIRUS_SO ETC_DIR"""

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (EICAR, EICAR_NAME, b64_attachment, greeting,  # noqa: E402
                           message, to_bytes, zip_bytes)

LIMIT = 1024 * 1024


def small_files_only():
    # Writes past the limit fail with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def main():
    modtest, module, etc = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="smf-av-parterr-")
    scratch = os.path.join(tmp, "scratch")
    os.makedirs(scratch)
    big = random.Random(20250602).randbytes(4 * LIMIT)
    member = b64_attachment(zip_bytes([("big.bin", big)], zipfile.ZIP_STORED), "big.zip",
                            "application/zip")
    mails = {
        "error-then-eicar.eml": [greeting(), member, b64_attachment(EICAR, "eicar.com")],
        "error-only.eml": [greeting(), member],
    }
    files = []
    for name, parts in mails.items():
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(to_bytes(message(name[:-4], parts)))
        files.append(path)
    cmd = [modtest, "-m", module, "--config-dir", etc, "-o", 'database_dir="/nonexistent"',
           "-o", 'tmp_dir="%s"' % scratch] + files
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          preexec_fn=small_files_only)
    got = {os.path.basename(r["file"]): r for r in map(json.loads, proc.stdout.splitlines())}
    failures = []
    first = got.get("error-then-eicar.eml", {})
    if first.get("status") != "detected" or not (first.get("virus") or "").startswith(EICAR_NAME):
        failures.append("error-then-eicar.eml: %s / %s, expected detected %s" %
                        (first.get("status"), first.get("virus"), EICAR_NAME))
    second = got.get("error-only.eml", {})
    if second.get("status") != "error":
        failures.append("error-only.eml: %s, expected error" % second.get("status"))
    if "failed scanning part 2" not in proc.stderr:
        failures.append("the part libclamav failed on is not logged")
    shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL: " + f)
    if failures:
        print(proc.stderr[-3000:])
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
