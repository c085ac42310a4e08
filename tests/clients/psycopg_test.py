"""psycopg 3 against riffle: extended protocol with $n parameters, typed results, errors."""
import datetime
import decimal
import sys

import psycopg
from psycopg.types.json import Jsonb

port = int(sys.argv[1])
with psycopg.connect(f"host=127.0.0.1 port={port} user=riffle dbname=riffle", autocommit=True) as conn:
    cur = conn.cursor()
    cur.execute(
        """CREATE TABLE readings (id bigint NOT NULL, name text, ok boolean, v double precision,
           amount numeric(10,2), day date, at timestamp, at_tz timestamptz, span interval, payload jsonb, raw bytea)"""
    )
    cur.execute("CREATE MATERIALIZED VIEW per_day AS SELECT day, count(*) AS n, sum(amount) AS total FROM readings GROUP BY day")
    rows = [
        (1, "alpha", True, 1.25, decimal.Decimal("10.50"), datetime.date(2024, 5, 1),
         datetime.datetime(2024, 5, 1, 12, 30, 15, 250000), datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc),
         datetime.timedelta(days=1, hours=2), Jsonb({"k": [1, 2]}), b"\x00\x01"),
        (2, None, False, -3.5, decimal.Decimal("0.01"), datetime.date(2024, 5, 1), None, None, None, None, None),
        (3, "o'hara", None, None, None, datetime.date(2024, 5, 2), None, None, None, None, None),
    ]
    cur.executemany("INSERT INTO readings VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)

    cur.execute("SELECT id, name, ok, v, amount, day, at, at_tz, span, payload, raw FROM readings WHERE id = %s", (1,))
    got = cur.fetchone()
    assert got[0] == 1 and got[1] == "alpha" and got[2] is True and got[3] == 1.25, got
    assert got[4] == decimal.Decimal("10.50"), got[4]
    assert got[5] == datetime.date(2024, 5, 1), got[5]
    assert got[6] == datetime.datetime(2024, 5, 1, 12, 30, 15, 250000), got[6]
    assert got[7] == datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc), got[7]
    assert got[8] == datetime.timedelta(days=1, hours=2), got[8]
    assert got[9] == {"k": [1, 2]}, got[9]
    assert bytes(got[10]) == b"\x00\x01", got[10]
    names = [d.name for d in cur.description]
    assert names == ["id", "name", "ok", "v", "amount", "day", "at", "at_tz", "span", "payload", "raw"], names

    cur.execute("SELECT name FROM readings WHERE name = %s", ("o'hara",))
    assert cur.fetchall() == [("o'hara",)]
    cur.execute("SELECT id FROM readings WHERE day = %s AND amount > %s ORDER BY id", (datetime.date(2024, 5, 1), decimal.Decimal("0")))
    assert cur.fetchall() == [(1,), (2,)]

    cur.execute("SELECT day, n, total FROM per_day ORDER BY day")
    assert cur.fetchall() == [(datetime.date(2024, 5, 1), 2, decimal.Decimal("10.51")), (datetime.date(2024, 5, 2), 1, None)]

    # Server-side binary results too.
    with conn.cursor(binary=True) as bcur:
        bcur.execute("SELECT id, v, amount, day FROM readings WHERE id = %s", (2,))
        assert bcur.fetchone() == (2, -3.5, decimal.Decimal("0.01"), datetime.date(2024, 5, 1))

    for sql, code in [("SELECT * FROM nowhere", "42P01"), ("SELECT 1/0", "22012"), ("INSERT INTO readings (id) VALUES (NULL)", "23502")]:
        try:
            cur.execute(sql)
            raise AssertionError(f"{sql} should fail")
        except psycopg.Error as e:
            assert e.sqlstate == code, (sql, e.sqlstate, str(e))
    cur.execute("SELECT count(*) FROM readings")
    assert cur.fetchone() == (3,)

# Non-autocommit use, as psycopg defaults to: BEGIN/COMMIT around statements.
with psycopg.connect(f"host=127.0.0.1 port={port} user=riffle dbname=riffle") as conn:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO readings (id) VALUES (%s)", (4,))
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS, conn.info.transaction_status
    conn.commit()
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE, conn.info.transaction_status
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM readings")
        assert cur.fetchone() == (4,)
print("psycopg OK")
