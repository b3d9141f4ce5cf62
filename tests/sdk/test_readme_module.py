"""The README's 20-line module is real: it is cut out of README.md, built the way
the README says (with the pkg-config file of the build tree), and run through
smf-modtest (from its folder, `-m lotto.so`) on a mail that mentions a lottery and on
one that does not."""

import json
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    source, build, modtest = sys.argv[1:4]
    text = open(os.path.join(source, "README.md")).read()
    start = text.index("```c", text.index("## A module in 20 lines")) + 4
    code = text[start:text.index("```", start)]
    tmp = tempfile.mkdtemp(prefix="smf-readme-")
    try:
        return check(code, build, modtest, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(code, build, modtest, tmp):
    with open(os.path.join(tmp, "lotto.c"), "w") as f:
        f.write(code)
    env = dict(os.environ, PKG_CONFIG_PATH=build)
    cflags = subprocess.run(["pkg-config", "--cflags", "smf-module"], env=env, check=True,
                            capture_output=True, text=True).stdout.split()
    so = os.path.join(tmp, "lotto.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-Wall", "-Werror"] + cflags +
                   ["-o", so, os.path.join(tmp, "lotto.c")], check=True)
    mails = {"win.eml": "Subject: win\n\nYou won the lottery!\n",
             "plain.eml": "Subject: notes\n\nThe meeting moved to Friday.\n"}
    for name, body in mails.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(body)
    # As the README runs it: from the module's folder, named without a path.
    out = subprocess.run([modtest, "-m", "lotto.so"] + list(mails), cwd=tmp,
                         check=True, capture_output=True, text=True).stdout.splitlines()
    res = {os.path.basename(json.loads(l)["file"]): json.loads(l) for l in out}
    names = lambda r: [s["name"] for s in r["symbols"]]
    failures = []
    if names(res["win.eml"]) != ["LOTTO_WORD"] or res["win.eml"]["status"] != "detected":
        failures.append("win.eml: %s" % res["win.eml"])
    if names(res["plain.eml"]) != [] or res["plain.eml"]["status"] != "clean":
        failures.append("plain.eml: %s" % res["plain.eml"])
    for f in failures:
        print("FAIL", f)
    print("%d passed, %d failed" % (2 - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
