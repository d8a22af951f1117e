-- missing-pagination: row-returning SELECTs over tables that can be large with no LIMIT,
-- and the exceptions: unique lookups, aggregates, bounded GROUP BY/DISTINCT, small
-- tables, EXISTS, LIMIT/FETCH FIRST.

-- expect: missing-pagination
SELECT id, email FROM users ORDER BY id;

-- expect: none
SELECT id, email FROM users ORDER BY id LIMIT 50;

-- expect: none
SELECT id, email FROM users ORDER BY id FETCH FIRST 50 ROWS ONLY;

-- LIMIT ALL is no limit.
-- expect: missing-pagination
SELECT id, email FROM users ORDER BY id LIMIT ALL;

-- All of one user's events: the planner expects 4 rows per user (index on user_id),
-- a result too small to page.
-- expect: none
SELECT id, kind, created_at FROM events WHERE user_id = $1 ORDER BY created_at;

-- expect: none
SELECT id, kind, created_at FROM events WHERE user_id = $1 ORDER BY created_at, id LIMIT 100;

-- One category of 500: the planner expects 40 rows.
-- expect: none
SELECT id, name, price_cents FROM products WHERE category_id = $1;

-- Primary-key lookup returns one row.
-- expect: none
SELECT name, price_cents FROM products WHERE id = $1;

-- Unique column lookup.
-- expect: none
SELECT id, name FROM products WHERE sku = $1;

-- Composite primary key, all columns.
-- expect: none
SELECT l_quantity, l_extendedprice FROM lineitem WHERE l_orderkey = $1 AND l_linenumber = $2;

-- Only part of the composite key: every line of an order, which the planner puts at 4.
-- expect: none
SELECT l_linenumber, l_quantity FROM lineitem WHERE l_orderkey = $1;

-- expect: none
SELECT ps_availqty FROM partsupp WHERE ps_partkey = $1 AND ps_suppkey = $2;

-- Aggregates without GROUP BY return one row.
-- expect: none
SELECT count(*) FROM events WHERE user_id = $1;

-- expect: none
SELECT max(created_at), min(created_at) FROM events;

-- expect: none
SELECT sum(amount_cents) FILTER (WHERE kind = 'purchase') FROM events WHERE created_at > now() - interval '1 day';

-- GROUP BY over a column with 3 values is bounded by pg_stats.
-- expect: none
SELECT status, count(*) FROM users GROUP BY status;

-- expect: none
SELECT kind, source, count(*) FROM events GROUP BY kind, source;

-- expect: none
SELECT country_code, plan_id, count(*) FROM users GROUP BY 1, 2;

-- GROUP BY a near-unique column: one group per user.
-- expect: missing-pagination
SELECT user_id, count(*) FROM events GROUP BY user_id;

-- expect: none
SELECT user_id, count(*) FROM events GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 10;

-- GROUP BY an expression: the number of groups is unknown.
-- expect: missing-pagination
SELECT date_trunc('day', created_at), count(*) FROM events GROUP BY 1;

-- DISTINCT over a low-cardinality column.
-- expect: none
SELECT DISTINCT kind FROM events;

-- expect: missing-pagination
SELECT DISTINCT user_id FROM events WHERE kind = 'click';

-- Small tables.
-- expect: none
SELECT code, name FROM countries ORDER BY name;

-- expect: none
SELECT key, value FROM settings;

-- expect: none
SELECT id, name FROM categories WHERE parent_id IS NULL;

-- expect: none
SELECT s_suppkey, s_name FROM supplier WHERE s_nationkey = $1;

-- No FROM at all.
-- expect: none
SELECT now(), version();

-- EXISTS-style checks return one row.
-- expect: none
SELECT EXISTS (SELECT 1 FROM events WHERE user_id = $1 AND kind = 'purchase');

-- expect: none
SELECT u.email FROM users u WHERE u.id = $1 AND EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id);

-- The statement's output is bounded; its subqueries are not its result.
-- expect: none
SELECT u.email, (SELECT count(*) FROM events e WHERE e.user_id = u.id) AS n FROM users u WHERE u.id = $1;

-- A join to a table pinned by its primary key through a foreign key stays one row.
-- expect: none
SELECT o.o_orderdate, c.c_name FROM orders o JOIN customer c ON c.c_custkey = o.o_custkey WHERE o.o_orderkey = $1;

-- A pinned user, but all of its sessions.
-- expect: missing-pagination
SELECT s.id, s.created_at FROM users u JOIN sessions s ON s.user_id = u.id WHERE u.email = $1;

-- A CTE over the last hour of events: the histogram puts it at 20 rows.
-- expect: none
WITH recent AS (SELECT id, user_id FROM events WHERE created_at > now() - interval '1 hour')
SELECT r.id, r.user_id FROM recent r;

-- A CTE that is bounded.
-- expect: none
WITH recent AS (SELECT id, user_id FROM events ORDER BY id DESC LIMIT 100)
SELECT r.id, r.user_id FROM recent r;

-- A FROM subquery that is bounded by aggregation.
-- expect: none
SELECT t.n FROM (SELECT count(*) AS n FROM events) t;

-- UNION of two unbounded branches (4% of users are inactive, and status has no index).
-- expect: missing-pagination, unindexed-filter
SELECT id FROM users WHERE status = 'inactive' UNION SELECT user_id FROM sessions WHERE expires_at < now();

-- expect: unindexed-filter
(SELECT id FROM users WHERE status = 'inactive' UNION SELECT user_id FROM sessions WHERE expires_at < now()) ORDER BY 1 LIMIT 100;

-- Writes are not row-returning SELECTs.
-- expect: none
INSERT INTO audit_log (id, actor_id, action, table_name, row_id, created_at) SELECT id, 0, 'purge', 'events', id, now() FROM events WHERE created_at < $1;

-- expect: none
CREATE TABLE events_copy AS SELECT id, kind FROM events;

-- A table the schema does not know: size unknown, so it can be large.
-- expect: missing-pagination
SELECT id, payload FROM webhooks_outbox WHERE delivered = false;

-- pgbench: the history table (2,000 rows) is small.
-- expect: none
SELECT tid, delta FROM pgbench_history WHERE aid = $1;

-- Every balance is 0: the planner expects 1 row of 100,000 and scans them all.
-- The planner expects 1 row back (and reads all of them: unindexed, not unpaginated).
-- expect: unindexed-filter
SELECT aid, abalance FROM pgbench_accounts WHERE abalance < 0;

-- Window functions still return every row.
-- expect: missing-pagination
SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY created_at) FROM events;

-- A locking read of a unique row.
-- expect: none
SELECT abalance FROM pgbench_accounts WHERE aid = $1 FOR UPDATE;

-- IN list on the primary key: bounded by the list.
-- expect: none
SELECT id, email FROM users WHERE id IN ($1, $2, $3);

-- expect: none
SELECT id, email FROM users WHERE id = ANY($1);

-- Catalog views are not application tables.
-- expect: none
SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database();

-- A filter that keeps a third of 100,000 rows: the result grows with the table.
-- expect: missing-pagination
SELECT aid, bid FROM pgbench_accounts WHERE bid = $1;

-- The commonest event kind: 140,000 of 200,000 rows come back.
-- expect: missing-pagination
SELECT id, user_id FROM events WHERE kind = 'page_view';

-- One user's row by a unique email, then all of their sessions: the planner expects 1 row.
-- The rule flags it still: it does not yet take a scalar subquery for one value.
-- expect: none
SELECT s.id FROM sessions s WHERE s.user_id = (SELECT id FROM users WHERE email = $1);

-- A view over every event: the planner scans all 200,000 rows of events.
-- expect: missing-pagination
SELECT id, kind FROM event_feed;

-- A view that keeps the last hour of events: the histogram puts it at 20 rows.
-- expect: none
SELECT id, kind FROM recent_events;

-- A view joining every user to their plan: 50,000 rows.
-- expect: missing-pagination
SELECT id, email FROM user_plans;
