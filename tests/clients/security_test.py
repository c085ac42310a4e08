"""psycopg over TLS with sslmode=verify-full and SCRAM-SHA-256: the right password gets in,
a wrong one gets 28P01. Usage: security_test.py PORT CA_PEM PASSWORD (user alice)."""
import sys

import psycopg

port, ca, password = sys.argv[1], sys.argv[2], sys.argv[3]
dsn = f"host=localhost port={port} user=alice dbname=riffle sslmode=verify-full sslrootcert={ca}"
with psycopg.connect(dsn, password=password) as conn:
    assert conn.info.pgconn.ssl_in_use, "the connection is not encrypted"
    row = conn.execute("SELECT current_user, count(*) FROM secrets").fetchone()
    assert row == ("alice", 1), row
    # A transaction as psycopg opens one by default: rolled back, nothing stays.
    conn.rollback()
try:
    psycopg.connect(dsn, password="wrong")
except psycopg.OperationalError as e:
    assert "password authentication failed for user \"alice\"" in str(e), e
else:
    raise AssertionError("a wrong password got in")
print("ok")
