"""psycopg_workload.py - psycopg 3 through pgscope: server-side prepared statements from the first use, and pipeline mode.

Usage: /usr/bin/python3 psycopg_workload.py HOST PORT DBNAME [CLIENTS] [ROUNDS]

Each client thread runs ROUNDS rounds of parameterised statements (prepared on
the server from their first execution: prepare_threshold=0), an explicit
transaction writing and reading back its own rows, and a pipelined batch.
Every result is checked. Prints one summary line; exit status 0 only when
there were no errors.
"""
import sys

import psycopg

from threaded_clients import check, run

HOST, PORT, DBNAME = sys.argv[1], int(sys.argv[2]), sys.argv[3]
CLIENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 6
ROUNDS = int(sys.argv[5]) if len(sys.argv) > 5 else 40

def client(n):
    who = f"psycopg-{n}"
    done = 0
    with psycopg.connect(host=HOST, port=PORT, dbname=DBNAME, user="postgres",
                         prepare_threshold=0, autocommit=True, connect_timeout=10) as conn:
        conn.execute("DELETE FROM it_drivers WHERE who = %s", (who,))
        for i in range(ROUNDS):
            row = conn.execute("SELECT %s::int + %s::int", (i, n)).fetchone()
            check(row[0] == i + n, f"sum {row[0]} != {i + n}")
            row = conn.execute("SELECT %s::text || '/' || %s::text", (who, i)).fetchone()
            check(row[0] == f"{who}/{i}", f"concat {row[0]}")
            with conn.transaction():
                row = conn.execute("INSERT INTO it_drivers (who, n) VALUES (%s, %s) RETURNING n",
                                   (who, i)).fetchone()
                check(row[0] == i, "insert returning")
                row = conn.execute("SELECT count(*) FROM it_drivers WHERE who = %s",
                                   (who,)).fetchone()
                check(row[0] == i + 1, f"count {row[0]} != {i + 1}")
            done += 5
            with conn.pipeline():
                curs = [conn.execute("SELECT %s::int * 2", (k,)) for k in range(5)]
            for k, cur in enumerate(curs):
                check(cur.fetchone()[0] == 2 * k, "pipelined result")
            done += 5
    return done


run(client, CLIENTS, f"psycopg {psycopg.__version__}")
