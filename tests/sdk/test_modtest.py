"""smf-modtest as a module author meets its refusals: an -o option the module
does not take is named as it was typed, with the options the module does take,
and a run that ends in a refusal leaves no temporary directory behind."""

import os
import subprocess
import sys
import tempfile


def main():
    modtest, module, fixture = sys.argv[1:4]
    failures = []
    with tempfile.TemporaryDirectory(prefix="smf-modtest-test-") as tmp:
        env = dict(os.environ, TMPDIR=tmp)
        p = subprocess.run([modtest, "-m", module, "-o", "score=2", "-o", "wrods={a}", fixture],
                           env=env, capture_output=True, text=True, timeout=60)
        if p.returncode != 2:
            failures.append("misspelt option: exit %d, want 2" % p.returncode)
        for want in ("-o wrods={a}", "no such option 'wrods'", "greeting, score, words"):
            if want not in p.stderr:
                failures.append("misspelt option: %r not in %r" % (want, p.stderr))
        if "[buf]" in p.stderr:
            failures.append("misspelt option: parser's buffer name shown: %r" % p.stderr)
        left = os.listdir(tmp)
        if left:
            failures.append("refused options left %s in TMPDIR" % left)
        p = subprocess.run([modtest, "-m", os.path.join(tmp, "nosuch.so"), fixture], env=env,
                           capture_output=True, text=True, timeout=60)
        left = os.listdir(tmp)
        if p.returncode != 2 or left:
            failures.append("missing module: exit %d, left %s" % (p.returncode, left))
    for f in failures:
        print("FAIL", f)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
