"""psycopg_evict_workload.py - psycopg 3 whose own statement cache keeps evicting.

Usage: /usr/bin/python3 psycopg_evict_workload.py HOST PORT DBNAME [CLIENTS] [ROUNDS]

Each client thread uses prepare_threshold=0 and prepared_max=2 and cycles
through five statements, so psycopg evicts one from its cache after almost
every execution and sends "DEALLOCATE _pg3_N" (through the extended protocol,
as it sends all its own commands), both outside and inside pipeline mode,
and after each rolled-back transaction DEALLOCATE ALL followed, in the same
pipeline, by statements prepared again.
Every result is checked, and a DEALLOCATE of a name the client never prepared
must fail with SQLSTATE 26000 and PostgreSQL's own message. Prints one summary
line; exit status 0 only when there were no errors.
"""
import sys

import psycopg

from threaded_clients import check, run

HOST, PORT, DBNAME = sys.argv[1], int(sys.argv[2]), sys.argv[3]
CLIENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 4
ROUNDS = int(sys.argv[5]) if len(sys.argv) > 5 else 30

QUERIES = [f"SELECT %s::int + {k * 100} AS evict_{k}" for k in range(5)]

def missing_name(conn, name):
    try:
        conn.execute(f"DEALLOCATE {name}")
    except psycopg.errors.InvalidSqlStatementName as e:
        want = f'prepared statement "{name}" does not exist'
        check(e.diag.message_primary == want, f"message {e.diag.message_primary!r}")
        return
    raise AssertionError(f"DEALLOCATE {name} succeeded")


def client(n):
    done = 0
    with psycopg.connect(host=HOST, port=PORT, dbname=DBNAME, user="postgres",
                         prepare_threshold=0, autocommit=True, connect_timeout=10) as conn:
        conn.prepared_max = 2
        for i in range(ROUNDS):
            for k, q in enumerate(QUERIES):
                row = conn.execute(q, (i + n,)).fetchone()
                check(row[0] == i + n + k * 100, f"round {i} query {k}: {row[0]}")
                done += 1
            with conn.pipeline():
                curs = [conn.execute(q, (i,)) for q in reversed(QUERIES)]
            for k, cur in zip(reversed(range(5)), curs):
                check(cur.fetchone()[0] == i + k * 100, f"pipelined round {i} query {k}")
                done += 1
            # After a rollback psycopg sends DEALLOCATE ALL; in pipeline mode the
            # statements that follow are prepared in the same batch.
            with conn.pipeline():
                with conn.transaction(force_rollback=True):
                    conn.execute(QUERIES[i % 5], (i,))
                curs = [conn.execute(q, (i + 1,)) for q in QUERIES[:3]]
            for k, cur in enumerate(curs):
                check(cur.fetchone()[0] == i + 1 + k * 100, f"after rollback round {i} query {k}")
                done += 1
        missing_name(conn, f"_pg3_never_{n}")
        missing_name(conn, "_pg3_0")  # evicted and deallocated long ago
    return done


run(client, CLIENTS, f"psycopg {psycopg.__version__}")
