"""asyncpg_workload.py - asyncpg through pgscope with its default statement cache (named prepared statements).

Usage: /usr/bin/python3 asyncpg_workload.py HOST PORT DBNAME [CLIENTS] [ROUNDS]

asyncpg prepares every parameterised query under its own name and reuses it;
CLIENTS connections run concurrently, each ROUNDS rounds of checked queries
and a transaction. Prints one summary line; exit status 0 only without errors.
"""
import asyncio
import sys

import asyncpg

HOST, PORT, DBNAME = sys.argv[1], int(sys.argv[2]), sys.argv[3]
CLIENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 6
ROUNDS = int(sys.argv[5]) if len(sys.argv) > 5 else 40


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def client(n):
    who = f"asyncpg-{n}"
    done = 0
    conn = await asyncpg.connect(host=HOST, port=PORT, database=DBNAME, user="postgres",
                                 timeout=10)
    try:
        await conn.execute("DELETE FROM it_drivers WHERE who = $1", who)
        for i in range(ROUNDS):
            v = await conn.fetchval("SELECT $1::int + $2::int", i, n)
            check(v == i + n, f"sum {v} != {i + n}")
            v = await conn.fetchval("SELECT $1::text || '/' || $2::int::text", who, i)
            check(v == f"{who}/{i}", f"concat {v}")
            async with conn.transaction():
                v = await conn.fetchval(
                    "INSERT INTO it_drivers (who, n) VALUES ($1, $2) RETURNING n", who, i)
                check(v == i, "insert returning")
                v = await conn.fetchval("SELECT count(*) FROM it_drivers WHERE who = $1", who)
                check(v == i + 1, f"count {v} != {i + 1}")
            rows = await conn.fetch("SELECT g FROM generate_series(1, $1::int) g", 5)
            check([r[0] for r in rows] == [1, 2, 3, 4, 5], "series")
            done += 7
    finally:
        await conn.close()
    return done


async def main():
    results = await asyncio.gather(*(client(n) for n in range(CLIENTS)), return_exceptions=True)
    errors = [f"client {n}: {type(r).__name__}: {r}" for n, r in enumerate(results)
              if isinstance(r, BaseException)]
    done = sum(r for r in results if isinstance(r, int))
    for e in errors:
        print(e)
    print(f"asyncpg {asyncpg.__version__}: {CLIENTS} clients, {done} statements, {len(errors)} errors")
    return 1 if errors else 0


sys.exit(asyncio.run(main()))
