-- unindexed-filter: selective filters on large tables that no index serves, and the
-- near misses: filters that keep most rows, small tables, primary keys, existing
-- indexes of every kind, multicolumn prefixes, partial and expression indexes.

-- A rare status on 50,000 users: 1% of rows, no index on status.
-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON users (status);
SELECT id, email FROM users WHERE status = 'banned' ORDER BY id LIMIT 100;

-- expect: none
SELECT id, email FROM users WHERE status = 'active' ORDER BY id LIMIT 100;

-- A parameter: pg_stats says three values, a third of the rows each on average.
-- expect: none
SELECT id, email FROM users WHERE status = $1 ORDER BY id LIMIT 100;

-- expect: unindexed-filter
SELECT id FROM users WHERE plan_id = 3 ORDER BY id LIMIT 50;

-- expect: none
SELECT id FROM users WHERE plan_id = 1 ORDER BY id LIMIT 50;

-- 60 distinct ages: 1.7% per value.
-- expect: unindexed-filter
SELECT id, username FROM users WHERE age = $1 ORDER BY id LIMIT 20;

-- expect: none
SELECT id, username FROM users WHERE age > $1 ORDER BY id LIMIT 20;

-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON users (age);
SELECT id, username FROM users WHERE age BETWEEN 30 AND 32 ORDER BY id LIMIT 20;

-- expect: unindexed-filter
SELECT id FROM users WHERE referrer_id = $1 ORDER BY id LIMIT 20;

-- 80% of referrer_id is NULL: IS NULL keeps most rows.
-- expect: none
SELECT id FROM users WHERE referrer_id IS NULL ORDER BY id LIMIT 20;

-- IS NOT NULL keeps 20% of the rows (EXPLAIN: 9,975 of 50,000): not selective.
-- expect: none
SELECT id FROM users WHERE referrer_id IS NOT NULL ORDER BY id LIMIT 20;

-- The primary key.
-- expect: none
SELECT email, username FROM users WHERE id = $1;

-- expect: none
SELECT email FROM users WHERE id IN (1, 2, 3);

-- A unique constraint.
-- expect: none
SELECT id FROM users WHERE email = $1;

-- Leading column of the multicolumn index (country_code, created_at).
-- expect: none
SELECT id FROM users WHERE country_code = $1 ORDER BY id LIMIT 100;

-- expect: none
SELECT id FROM users WHERE country_code = 'AB' AND created_at >= $1 ORDER BY id LIMIT 100;

-- Second column of a multicolumn index only: the index cannot be used.
-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON users (created_at);
SELECT id FROM users WHERE created_at >= $1 AND created_at < $2 ORDER BY id LIMIT 100;

-- expect: none
SELECT id FROM users WHERE created_at >= $1 ORDER BY id LIMIT 100;

-- The trigram GIN index serves equality too (pg_trgm 1.6).
-- expect: none
SELECT id FROM users WHERE username = $1 ORDER BY id LIMIT 1;

-- The partial index (last_login_at) WHERE deleted_at IS NULL is usable only with its predicate.
-- expect: none
SELECT id FROM users WHERE last_login_at BETWEEN $1 AND $2 AND deleted_at IS NULL ORDER BY id LIMIT 100;

-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON users (last_login_at);
SELECT id FROM users WHERE last_login_at BETWEEN $1 AND $2 ORDER BY id LIMIT 100;

-- The partial unique index on api_key WHERE api_key IS NOT NULL: equality implies it.
-- expect: none
SELECT id FROM users WHERE api_key = $1;

-- Expression index lower(email).
-- expect: none
SELECT id FROM users WHERE lower(email) = lower($1) ORDER BY id LIMIT 1;

-- Small table: 500 categories.
-- expect: none
SELECT id, name FROM categories WHERE slug = $1;

-- expect: none
SELECT name FROM countries WHERE region = 'R1';

-- events: 200,000 rows. session_id has no index.
-- expect: unindexed-filter
SELECT id, kind FROM events WHERE session_id = $1 ORDER BY id LIMIT 100;

-- expect: unindexed-filter
SELECT id FROM events WHERE kind = 'purchase' ORDER BY id LIMIT 100;

-- expect: none
SELECT id FROM events WHERE kind = 'page_view' ORDER BY id LIMIT 100;

-- Leading column of (user_id, created_at).
-- expect: none
SELECT id, kind FROM events WHERE user_id = $1 AND created_at > $2 ORDER BY id LIMIT 100;

-- Second column only, but a BRIN index covers created_at.
-- expect: none
SELECT id FROM events WHERE created_at BETWEEN $1 AND $2 ORDER BY id LIMIT 100;

-- The partial index WHERE NOT processed holds the 2% unprocessed rows.
-- expect: none
SELECT id FROM events WHERE processed = false ORDER BY id LIMIT 500;

-- expect: none
SELECT id FROM events WHERE processed = false AND created_at < $1 ORDER BY id LIMIT 500;

-- 15% of rows: not selective enough to be worth an index.
-- expect: none
SELECT id FROM events WHERE source = 'android' ORDER BY id LIMIT 100;

-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON events (kind, source);
SELECT id FROM events WHERE source = 'android' AND kind = 'refund' ORDER BY id LIMIT 100;

-- expect: unindexed-filter
SELECT id FROM events WHERE amount_cents = $1 ORDER BY id LIMIT 10;

-- jsonb containment is served by the GIN index and is not an equality filter.
-- expect: none
SELECT id FROM events WHERE payload @> '{"ref": 3}' ORDER BY id LIMIT 10;

-- Hash index on sessions.token serves equality and IN.
-- expect: none
SELECT user_id FROM sessions WHERE token = $1 ORDER BY id LIMIT 1;

-- expect: none
SELECT user_id FROM sessions WHERE token IN ($1, $2) ORDER BY id LIMIT 2;

-- expect: unindexed-filter
SELECT id FROM sessions WHERE expires_at BETWEEN $1 AND $2 ORDER BY id LIMIT 100;

-- expect: unindexed-filter
SELECT id FROM sessions WHERE ip = $1 ORDER BY id LIMIT 100;

-- expect: unindexed-filter
SELECT id FROM sessions WHERE user_agent = $1 ORDER BY id LIMIT 100;

-- products: GiST trigram index on name serves equality.
-- expect: none
SELECT id FROM products WHERE name = $1 ORDER BY id LIMIT 5;

-- expect: unindexed-filter
SELECT id FROM products WHERE description = $1 ORDER BY id LIMIT 5;

-- expect: unindexed-filter
SELECT id, name FROM products WHERE stock = 0 ORDER BY id LIMIT 50;

-- stock is spread evenly over 0..299: the histogram gives 256 of 20,000 rows, no index.
-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON products (stock);
SELECT id, name FROM products WHERE stock < 5 ORDER BY id LIMIT 50;

-- expect: none
SELECT id, name FROM products WHERE category_id = $1 AND price_cents < $2 ORDER BY id LIMIT 50;

-- expect: none
SELECT id, name FROM products WHERE price_cents BETWEEN 1000 AND 2000 ORDER BY id LIMIT 50;

-- expect: none
SELECT id, name FROM products WHERE sku = $1;

-- expect: unindexed-filter
SELECT id FROM products WHERE created_at >= $1 AND created_at < $2 ORDER BY id LIMIT 50;

-- GIN array containment.
-- expect: none
SELECT id FROM products WHERE tags @> ARRAY['tag3'] ORDER BY id LIMIT 50;

-- places: 4 kinds, 25% each.
-- expect: none
SELECT id FROM places WHERE kind = 'cafe' ORDER BY id LIMIT 20;

-- expect: unindexed-filter
SELECT id FROM places WHERE name = $1 ORDER BY id LIMIT 20;

-- audit_log has only its primary key.
-- expect: unindexed-filter
SELECT id, action FROM audit_log WHERE actor_id = $1 ORDER BY id LIMIT 50;

-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON audit_log (row_id, table_name);
SELECT id FROM audit_log WHERE table_name = 'users' AND row_id = $1 ORDER BY id LIMIT 50;

-- expect: none
SELECT id FROM audit_log WHERE action = 'delete' ORDER BY id LIMIT 50;

-- expect: none
SELECT detail FROM audit_log WHERE id = $1;

-- comments.user_id has an index, but it is invalid (failed CREATE INDEX CONCURRENTLY).
-- expect: unindexed-filter
-- suggest: DROP INDEX CONCURRENTLY comments_user_idx; CREATE INDEX CONCURRENTLY ON comments (user_id);
SELECT id FROM comments WHERE user_id = $1 ORDER BY id LIMIT 20;

-- expect: none
SELECT id FROM comments WHERE product_id = $1 ORDER BY id LIMIT 20;

-- 5 ratings, 20% each.
-- expect: none
SELECT id FROM comments WHERE rating = 5 ORDER BY id LIMIT 20;

-- UPDATE and DELETE filters scan too.
-- expect: unindexed-filter
UPDATE sessions SET expires_at = now() WHERE user_agent = $1;

-- expect: none
UPDATE sessions SET expires_at = now() WHERE user_id = $1;

-- expect: unindexed-filter
DELETE FROM audit_log WHERE actor_id = $1;

-- expect: none
DELETE FROM sessions WHERE id = $1;

-- expect: unindexed-filter
-- suggest: CREATE INDEX CONCURRENTLY ON users (status, age);
UPDATE users SET status = 'active' WHERE status = 'banned' AND age = $1;

-- A filter inside JOIN ... ON; events is reached through its indexed user_id.
-- expect: none
SELECT u.id, e.id FROM users u JOIN events e ON e.user_id = u.id AND e.kind = 'signup' WHERE u.id = $1 ORDER BY e.id LIMIT 10;

-- audit_log is reached through nothing indexed; it then drives the join into users' primary key.
-- expect: unindexed-filter
SELECT u.id, a.id FROM users u JOIN audit_log a ON a.actor_id = u.id AND a.row_id = $1 ORDER BY a.id LIMIT 10;

-- A correlated subquery looks up by the outer row: the inner column needs an index.
-- expect: unindexed-filter
SELECT u.id, (SELECT count(*) FROM audit_log a WHERE a.actor_id = u.id) FROM users u WHERE u.id = $1;

-- expect: none
SELECT u.id, (SELECT count(*) FROM sessions s WHERE s.user_id = u.id) FROM users u WHERE u.id = $1;

-- pgbench_accounts: every row has bid = 1.
-- expect: none
SELECT aid FROM pgbench_accounts WHERE bid = 1 ORDER BY aid LIMIT 10;

-- TPC-H tables: indexed dates, unindexed clerk.
-- expect: unindexed-filter
SELECT o_orderkey FROM orders WHERE o_clerk = $1 ORDER BY o_orderkey LIMIT 10;

-- expect: none
SELECT o_orderkey FROM orders WHERE o_orderdate = $1 ORDER BY o_orderkey LIMIT 10;

-- The second key of the lineitem primary key.
-- expect: none
SELECT l_orderkey FROM lineitem WHERE l_orderkey = $1 AND l_linenumber = 2;

-- expect: unindexed-filter
SELECT l_orderkey FROM lineitem WHERE l_receiptdate BETWEEN $1 AND $2 ORDER BY l_orderkey, l_linenumber LIMIT 10;

-- expect: none
SELECT c_custkey FROM customer WHERE c_nationkey = $1 ORDER BY c_custkey LIMIT 10;

-- 5 market segments: 20% each.
-- expect: none
SELECT c_custkey FROM customer WHERE c_mktsegment = 'BUILDING' ORDER BY c_custkey LIMIT 10;

-- Supplier has 1,000 rows: small.
-- expect: none
SELECT s_suppkey FROM supplier WHERE s_phone = $1;
