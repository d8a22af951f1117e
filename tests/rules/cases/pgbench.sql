-- The pgbench workloads (tpcb-like, simple-update, select-only) as the driver sends them,
-- with parameters in place of pgbench's :variables. None of them is a problem.

-- expect: none
BEGIN;

-- expect: none
UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;

-- expect: none
SELECT abalance FROM pgbench_accounts WHERE aid = $1;

-- expect: none
UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;

-- expect: none
UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;

-- expect: none
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);

-- expect: none
END;

-- expect: none
COMMIT;

-- pgbench's own initialisation and vacuum steps.
-- expect: none
TRUNCATE pgbench_history;

-- expect: none
VACUUM ANALYZE pgbench_accounts;

-- expect: none
SELECT count(*) FROM pgbench_branches;

-- The same statements with literal values, as pgbench -M simple sends them.
-- expect: none
UPDATE pgbench_accounts SET abalance = abalance + -1721 WHERE aid = 48213;

-- expect: none
SELECT abalance FROM pgbench_accounts WHERE aid = 48213;

-- expect: none
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 48213, -1721, CURRENT_TIMESTAMP);

-- Mistakes seen in hand-written benchmark scripts.
-- expect: update-without-where
UPDATE pgbench_branches SET bbalance = 0;

-- expect: delete-without-where
DELETE FROM pgbench_history;

-- expect: missing-pagination, select-star
SELECT * FROM pgbench_accounts WHERE bid = $1;

-- expect: nondeterministic-pagination
SELECT aid, abalance FROM pgbench_accounts LIMIT 10;
