#!/usr/bin/env python3
"""DuckDB's side of benches/src/recompute.rs: the same rows, batch by batch, and the same two
queries after each batch. Prints `rows,load_seconds,answer_seconds` per batch.

Usage: recompute_duckdb.py BATCH BATCHES DELTA
"""
import sys
import time

import duckdb

CUSTOMERS = 10_000
SEG_REVENUE = (
    "SELECT c.segment, count(*) AS orders, sum(o.amount) AS revenue "
    "FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.segment"
)
USER_TOTALS = "SELECT customer_id, count(*) AS n, sum(amount) AS total FROM orders GROUP BY customer_id"


def main():
    batch, batches, delta = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    db = duckdb.connect()  # in memory: DuckDB as an embedded analytics engine
    db.execute("SET threads TO 1")
    db.execute("CREATE TABLE customers (id bigint NOT NULL, segment text)")
    db.execute("CREATE TABLE orders (id bigint NOT NULL, customer_id bigint, amount bigint)")
    db.execute(f"INSERT INTO customers SELECT i, 'seg' || (i % 20) FROM range({CUSTOMERS}) t(i)")
    insert = f"INSERT INTO orders SELECT i, i % {CUSTOMERS}, (i * 7) % 1000 FROM range(?, ?) t(i)"
    for b in range(batches):
        lo = b * (batch + delta)
        mid, hi = lo + batch, lo + batch + delta
        db.execute(insert, [lo, mid])
        start = time.perf_counter()
        db.execute(insert, [mid, hi])
        loaded = time.perf_counter()
        a = sum(r[1] for r in db.execute(SEG_REVENUE).fetchall())
        n = sum(r[1] for r in db.execute(USER_TOTALS).fetchall())
        answered = time.perf_counter()
        assert a == hi and n == hi, (a, n, hi)
        print(f"{hi},{loaded - start:.6f},{answered - loaded:.6f}", flush=True)


if __name__ == "__main__":
    main()
