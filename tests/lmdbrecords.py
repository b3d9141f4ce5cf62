"""The records of an LMDB database read and written with mdb_dump and mdb_load
(lmdb-utils, which scripts/setup installs), for tests that look into or seed
the engine's stores. Standard library only."""
import subprocess


def dump(env, db):
    """Every record of database db in the environment env as {key bytes: value bytes}."""
    p = subprocess.run(["mdb_dump", "-s", db, env], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("mdb_dump %s %s: %s" % (env, db, p.stderr))
    lines = p.stdout.split("HEADER=END\n", 1)[1].splitlines()
    lines = [l.strip() for l in lines if l.startswith(" ")]
    return {bytes.fromhex(lines[i]): bytes.fromhex(lines[i + 1]) for i in range(0, len(lines), 2)}


def load(env, db, records):
    """Writes {key bytes: value bytes} into database db of env, over what is there."""
    text = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n" + "".join(
        " %s\n %s\n" % (k.hex(), v.hex()) for k, v in records.items()) + "DATA=END\n"
    p = subprocess.run(["mdb_load", "-s", db, env], input=text, capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError("mdb_load %s %s: %s" % (env, db, p.stderr))
