"""scripts/run --demo, the README's first command, as a user runs it: it must
build (a no-op here), check the configuration, start smfd on the default
configuration, and show each sample judged as the README says: the clean mail
accepted, the EICAR mail quarantined as a virus, GTUBE rejected, the lottery
spam quarantined, and smfd's log line for each. Registered only for build/,
the folder scripts/run builds and runs from."""
import argparse
import os
import re
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    p = subprocess.run([os.path.join(args.source, "scripts", "run"), "--demo"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    print(p.stdout[-6000:])
    if p.returncode != 0:
        print(p.stderr[-4000:])
        print("FAIL: scripts/run --demo exited %d" % p.returncode)
        return 1
    want = {"clean.eml": r"accept\s+0\.00",
            "eicar.eml": r"quarantine\s+[0-9.]+\s+virus=SMF\.Test\.EICAR",
            "gtube.eml": r"reject\s+[0-9.]+\s+PAT_GTUBE",
            "spam.eml": r"quarantine\s+[0-9.]+\s+PAT_"}
    failed = [name for name, pattern in want.items()
              if not re.search(r"samples/%s\s+%s" % (re.escape(name), pattern), p.stdout)]
    if not re.search(r"configuration \S+ is valid", p.stdout):
        failed.append("smfd -t")
    if len(re.findall(r"info: \S+: request=smfc-\d+-\d+ .* action=", p.stdout)) < 4:
        failed.append("the log lines")
    for name in failed:
        print("FAIL: the demo did not show %s as expected" % name)
    print("%d checks, %d failed" % (len(want) + 2, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
