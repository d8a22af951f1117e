-- Everyday application statements, as ORMs and hand-written data layers send them. Almost
-- all of them are fine: this file guards precision on ordinary SQL.

-- expect: none
INSERT INTO users (id, email, username, status, country_code, plan_id, created_at, age)
VALUES ($1, $2, $3, 'active', $4, 1, now(), $5) RETURNING id, created_at;

-- expect: none
INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, now())
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at;

-- expect: none
UPDATE users SET last_login_at = now() WHERE id = $1 RETURNING last_login_at;

-- expect: none
UPDATE products SET stock = stock - $1 WHERE id = $2 AND stock >= $1;

-- expect: none
DELETE FROM sessions WHERE token = $1;

-- expect: none
DELETE FROM sessions s USING users u WHERE s.user_id = u.id AND u.id = $1;

-- expect: none
UPDATE comments c SET body = $1 FROM users u WHERE c.user_id = u.id AND c.id = $2 AND u.id = $3;

-- Session lookup by primary key joined to its user.
-- expect: none
SELECT u.id, u.email, u.plan_id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND s.expires_at > now();

-- Keyset pagination of a product list within a category.
-- expect: none
SELECT id, name, price_cents FROM products WHERE category_id = $1 AND id > $2 ORDER BY id LIMIT 24;

-- The newest comments of a product with their authors.
-- expect: none
SELECT c.id, c.body, c.rating, u.username FROM comments c JOIN users u ON u.id = c.user_id
WHERE c.product_id = $1 ORDER BY c.created_at DESC, c.id DESC LIMIT 20;

-- A job-queue style claim on unprocessed events.
-- expect: none
SELECT id, payload FROM events WHERE processed = false ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED;

-- expect: none
UPDATE events SET processed = true WHERE id = ANY ($1::bigint[]);

-- Counting for a badge.
-- expect: none
SELECT count(*) FROM comments WHERE product_id = $1 AND rating >= 4;

-- expect: none
SELECT coalesce(sum(amount_cents), 0) FROM events WHERE user_id = $1 AND kind = 'purchase';

-- A lateral "latest event per session" for one user: each probe of events.session_id scans the table.
-- expect: unindexed-filter
SELECT s.id, le.kind, le.created_at FROM sessions s
CROSS JOIN LATERAL (SELECT e.kind, e.created_at FROM events e WHERE e.session_id = s.id ORDER BY e.created_at DESC, e.id DESC LIMIT 1) le
WHERE s.user_id = $1 ORDER BY s.id LIMIT 10;

-- jsonb containment through the GIN index, paginated.
-- expect: none
SELECT id, created_at FROM events WHERE payload @> $1::jsonb ORDER BY id DESC LIMIT 50;

-- Array overlap on tags.
-- expect: none
SELECT id, name FROM products WHERE tags && ARRAY[$1, $2]::text[] ORDER BY id LIMIT 50;

-- A nearest-places query on the GiST point index.
-- expect: none
SELECT id, name FROM places ORDER BY location <-> point($1, $2) LIMIT 10;

-- expect: none
SELECT id, name FROM places WHERE location <@ box(point($1, $2), point($3, $4)) ORDER BY id LIMIT 100;

-- Window function over one user's events, bounded.
-- expect: none
SELECT id, kind, lag(created_at) OVER (ORDER BY created_at, id) FROM events WHERE user_id = $1 ORDER BY created_at, id LIMIT 100;

-- A CTE pipeline that ends bounded. Its 7-day window keeps 4 of 40,000 comments
-- and created_at only follows product_id in comments_product_idx: EXPLAIN checks
-- it on every entry of that index.
-- expect: unindexed-filter
WITH recent AS (
	SELECT product_id, avg(rating) AS r FROM comments WHERE created_at > now() - interval '7 days' GROUP BY product_id)
SELECT p.id, p.name, recent.r FROM recent JOIN products p ON p.id = recent.product_id ORDER BY recent.r DESC, p.id LIMIT 10;

-- A scalar lookup in the select list.
-- expect: none
SELECT c.id, (SELECT name FROM categories k WHERE k.id = p.category_id) AS category
FROM comments c JOIN products p ON p.id = c.product_id WHERE c.id = $1;

-- Case-insensitive login through the expression index.
-- expect: none
SELECT id, email FROM users WHERE lower(email) = lower($1) AND deleted_at IS NULL ORDER BY id LIMIT 1;

-- Search-as-you-type on the trigram-indexed username.
-- expect: none
SELECT id, username FROM users WHERE username ILIKE '%' || $1 || '%' ORDER BY id LIMIT 10;

-- Settings and countries: small tables read whole.
-- expect: none
SELECT key, value FROM settings WHERE key = ANY ($1::text[]);

-- expect: none
SELECT code, name FROM countries WHERE region = $1 ORDER BY name, code;

-- A report query with a bounded group count.
-- expect: none
SELECT source, kind, count(*) FROM events WHERE created_at >= $1 AND created_at < $2 GROUP BY source, kind ORDER BY source, kind;

-- A soft-delete filter keeps almost every row: no index needed.
-- expect: none
SELECT id, email FROM users WHERE deleted_at IS NULL AND country_code = $1 ORDER BY id LIMIT 50;

-- Recent activity of the partial index's rows.
-- expect: none
SELECT id, last_login_at FROM users WHERE deleted_at IS NULL AND last_login_at > $1 ORDER BY last_login_at DESC, id DESC LIMIT 50;

-- Transaction and session control.
-- expect: none
SET LOCAL statement_timeout = '5s';

-- expect: none
SELECT set_config('app.user_id', $1, true);

-- expect: none
LISTEN events_channel;

-- expect: none
SELECT pg_advisory_xact_lock($1);

-- expect: none
PREPARE find_user (bigint) AS SELECT email FROM users WHERE id = $1;

-- expect: none
EXECUTE find_user (42);

-- DDL as migrations run it.
-- expect: none
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_session_idx ON events (session_id);

-- expect: none
ALTER TABLE users ADD COLUMN IF NOT EXISTS locale text;

-- Mistakes that slip into ordinary code.
-- expect: missing-pagination
SELECT id, email, username FROM users WHERE plan_id = 1;

-- expect: select-star
SELECT * FROM comments WHERE product_id = $1;

-- expect: unindexed-filter, nondeterministic-pagination
SELECT id, token FROM sessions WHERE ip = $1 LIMIT 1;

-- expect: function-on-indexed-column
SELECT id FROM sessions WHERE lower(token) = lower($1) ORDER BY id LIMIT 1;
