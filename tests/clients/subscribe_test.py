"""SUBSCRIBE over psycopg's COPY support: snapshot first, then changes as they happen."""
import os
import sys
import threading

import psycopg

port = int(sys.argv[1])
dsn = f"host=127.0.0.1 port={port} user=riffle dbname=riffle"
with psycopg.connect(dsn, autocommit=True) as setup:
    setup.execute("CREATE TABLE s (k text, v integer)")
    setup.execute("INSERT INTO s VALUES ('a', 1), ('b', 2)")
    setup.execute("CREATE MATERIALIZED VIEW totals AS SELECT k, sum(v) AS total FROM s GROUP BY k")

snapshot_done = threading.Event()


def writer():
    snapshot_done.wait(10)
    with psycopg.connect(dsn, autocommit=True) as w:
        w.execute("INSERT INTO s VALUES ('a', 10)")


threading.Thread(target=writer, daemon=True).start()
rows = []
conn = psycopg.connect(dsn, autocommit=True)
with conn.cursor().copy("SUBSCRIBE totals") as copy:
    for row in copy.rows():
        rows.append((int(row[1]), row[2], row[3]))
        if len(rows) == 2:
            assert sorted(rows) == [(1, "a", "1"), (1, "b", "2")], rows
            snapshot_done.set()
        if len(rows) == 4:
            break
change = sorted(rows[2:])
assert change == [(-1, "a", "1"), (1, "a", "11")], rows

# Errors carry SQLSTATEs.
with psycopg.connect(dsn, autocommit=True) as other:
    try:
        with other.cursor().copy("SUBSCRIBE nowhere") as copy:
            for _ in copy.rows():
                pass
        raise AssertionError("SUBSCRIBE of a missing relation should fail")
    except psycopg.Error as e:
        assert e.sqlstate == "42P01", (e.sqlstate, str(e))
# WITH (PROGRESS): an mz_progressed column, and a row each time time advances.
prog = psycopg.connect(dsn, autocommit=True)
seen = []
with prog.cursor().copy("SUBSCRIBE totals WITH (SNAPSHOT, PROGRESS)") as copy:
    for row in copy.rows():
        seen.append(row)
        if row[1] == "t":
            break
data = [r for r in seen if r[1] == "f"]
assert sorted((r[2], r[3], r[4]) for r in data) == [("1", "a", "11"), ("1", "b", "2")], seen
assert seen[-1][2] is None and int(seen[-1][0]) > int(data[0][0]), seen
prog.close()

# A cancel request (psql's Ctrl-C, psycopg's conn.cancel()) ends a SUBSCRIBE with 57014, and
# the connection stays usable.
canceled = psycopg.connect(dsn, autocommit=True)
threading.Timer(0.5, canceled.cancel).start()
try:
    with canceled.cursor().copy("SUBSCRIBE totals") as copy:
        for _ in copy.rows():
            pass
    raise AssertionError("the canceled SUBSCRIBE should end with an error")
except psycopg.errors.QueryCanceled:
    pass
assert canceled.execute("SELECT count(*) FROM s").fetchone() == (3,)
print("subscribe OK")
# The subscription never ends on its own; leave without waiting for it.
os._exit(0)
