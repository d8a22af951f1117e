-- Selectivity as the planner estimates it: histograms for ranges, most common
-- values for equality and IN, ORs split into branches, and a table that was
-- never analyzed. Each estimate was checked against EXPLAIN on schema.sql.

-- A constant lower bound near the end of audit_log's histogram: 708 of 60,000 rows, seq scan.
-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON audit_log (created_at);
SELECT count(*) FROM audit_log WHERE created_at > '2024-07-25';

-- The same column with a bound keeping 85% (51,122 rows): nothing an index would speed up.
-- expect: none
SELECT count(*) FROM audit_log WHERE created_at > '2024-02-01';

-- A wide BETWEEN keeps 87% (52,036 rows), not the planner's 0.5% default for unknown bounds.
-- expect: none
SELECT count(*) FROM audit_log WHERE created_at BETWEEN '2024-01-01' AND '2024-06-30';

-- One day out of seven months: 287 rows.
-- expect: unindexed-filter
SELECT count(*) FROM audit_log WHERE created_at >= '2024-03-01' AND created_at < '2024-03-02';

-- Numbers: the top 1% of row_id (702 rows), then 55% of it (33,283 rows).
-- expect: unindexed-filter
SELECT count(*) FROM audit_log WHERE row_id > 178000;

-- expect: none
SELECT count(*) FROM audit_log WHERE row_id < 100000;

-- now() is folded at plan time: the last day of page_hits is 1,403 of 100,000 rows.
-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON page_hits (created_at);
SELECT count(*) FROM page_hits WHERE created_at > now() - interval '1 day';

-- The last 30 days: 43,086 rows.
-- expect: none
SELECT count(*) FROM page_hits WHERE created_at > now() - interval '30 days';

-- CURRENT_TIMESTAMP too: the last two hours, 114 rows.
-- expect: unindexed-filter
SELECT id, path FROM page_hits WHERE created_at > current_timestamp - interval '2 hours' ORDER BY id LIMIT 100;

-- A parameter bound is unknown at plan time: the planner keeps a third.
-- expect: none
SELECT count(*) FROM page_hits WHERE created_at > $1;

-- Most common values for IN: 404 and 500 are 3% (3,067 rows), 200 and 500 are 98%.
-- expect: unindexed-filter
SELECT count(*) FROM page_hits WHERE status IN (404, 500);

-- expect: none
SELECT count(*) FROM page_hits WHERE status IN (200, 500);

-- OR: user_id is indexed, status is not, so no BitmapOr: a seq scan for 962 rows.
-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON page_hits (status);
SELECT count(*) FROM page_hits WHERE user_id = 42 OR status = 500;

-- Both branches indexed: BitmapOr of page_hits_user_idx and page_hits_pkey.
-- expect: none
SELECT count(*) FROM page_hits WHERE user_id = 42 OR id = 7;

-- The second branch has no index: seq scan for 58 rows.
-- expect: unindexed-filter
SELECT count(*) FROM page_hits WHERE user_id = 42 OR created_at > now() - interval '1 hour';

-- An OR that keeps every row is nothing to index.
-- expect: none
SELECT count(*) FROM page_hits WHERE status = 200 OR bytes > 10;

-- OR on users: the primary key serves one branch, bio has no index (seq scan, 2 rows).
-- expect: unindexed-filter
SELECT id FROM users WHERE id = $1 OR bio = $2 ORDER BY id LIMIT 10;

-- expect: none
SELECT id FROM users WHERE id = $1 OR email = $2 ORDER BY id LIMIT 10;

-- IS NOT NULL from null_frac: deleted_at is set on 0.5% (232 rows, seq scan); a btree
-- on it would answer with an index-only scan.
-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON users (deleted_at);
SELECT count(*) FROM users WHERE deleted_at IS NOT NULL;

-- Never analyzed (reltuples = -1): the planner still sizes it from its 368 pages
-- (27,600 rows) and scans it whole for batch = 7.
-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON import_rows (batch);
SELECT count(*) FROM import_rows WHERE batch = 7;

-- expect: none
SELECT count(*) FROM import_rows WHERE id = $1;
