"""threaded_clients.py - run a driver workload in client threads and report on it.

A workload script defines client(n): it runs one client's work, checks every
result with check() (which raises on a wrong one) and returns how many
statements it ran. run() starts the client threads, collects every failure
without letting one stop the others, prints them and one summary line
("LABEL: N clients, M statements, E errors") and exits 0 only when none failed.
"""
import sys
import threading


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def run(client, clients, label):
    errors = []
    statements = [0]
    lock = threading.Lock()

    def one(n):
        try:
            done = client(n)
        except Exception as e:  # every failure is reported, none stops the others
            with lock:
                errors.append(f"client {n}: {type(e).__name__}: {e}")
            return
        with lock:
            statements[0] += done

    threads = [threading.Thread(target=one, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        print(e)
    print(f"{label}: {clients} clients, {statements[0]} statements, {len(errors)} errors")
    sys.exit(1 if errors else 0)
