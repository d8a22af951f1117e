-- function-on-indexed-column: a function, cast or arithmetic around an indexed column in a
-- predicate, where no expression index matches; and the forms that keep the index usable.

-- email has a unique index; upper(email) has no expression index.
-- expect: function-on-indexed-column
SELECT id FROM users WHERE upper(email) = upper($1) ORDER BY id LIMIT 1;

-- lower(email) has an expression index.
-- expect: none
SELECT id FROM users WHERE lower(email) = lower($1) ORDER BY id LIMIT 1;

-- A qualified column inside the same expression.
-- expect: none
SELECT u.id FROM users u WHERE lower(u.email) = $1 ORDER BY u.id LIMIT 1;

-- expect: function-on-indexed-column
SELECT u.id FROM users u WHERE trim(u.email) = $1 ORDER BY u.id LIMIT 1;

-- A cast of the primary key to text.
-- expect: function-on-indexed-column
SELECT email FROM users WHERE id::text = $1 ORDER BY id LIMIT 1;

-- A cast to the column's own type changes nothing.
-- expect: none
SELECT email FROM users WHERE id::bigint = $1 ORDER BY id LIMIT 1;

-- Arithmetic on the indexed column.
-- expect: function-on-indexed-column
SELECT email FROM users WHERE id + 1 = $1 ORDER BY id LIMIT 1;

-- The same arithmetic moved to the value side.
-- expect: none
SELECT email FROM users WHERE id = $1 - 1;

-- Date functions on an indexed date column (orders_date_idx).
-- expect: function-on-indexed-column
SELECT o_orderkey FROM orders WHERE extract(year FROM o_orderdate) = 1995 ORDER BY o_orderkey LIMIT 100;

-- expect: none
SELECT o_orderkey FROM orders WHERE o_orderdate >= date '1995-01-01' AND o_orderdate < date '1996-01-01' ORDER BY o_orderkey LIMIT 100;

-- expect: function-on-indexed-column
SELECT o_orderkey FROM orders WHERE date_trunc('month', o_orderdate) = $1 ORDER BY o_orderkey LIMIT 100;

-- expect: function-on-indexed-column
SELECT o_orderkey FROM orders WHERE to_char(o_orderdate, 'YYYY-MM') = $1 ORDER BY o_orderkey LIMIT 100;

-- A cast on the indexed date column.
-- expect: function-on-indexed-column
SELECT o_orderkey FROM orders WHERE o_orderdate::text LIKE '1995-%' ORDER BY o_orderkey LIMIT 100;

-- coalesce around an indexed column.
-- expect: function-on-indexed-column
SELECT id FROM products WHERE coalesce(price_cents, 0) < $1 ORDER BY id LIMIT 20;

-- expect: none
SELECT id FROM products WHERE price_cents < $1 ORDER BY id LIMIT 20;

-- A function on a column with no index at all: the column is not indexed, nothing to lose.
-- expect: none
SELECT id FROM products WHERE length(description) > 100 ORDER BY id LIMIT 20;

-- Second column of a multicolumn index: not usable alone anyway, and date() of a
-- timestamptz depends on the time zone, so no index can be built on it.
-- expect: none
SELECT id FROM users WHERE date(created_at) = $1 ORDER BY id LIMIT 20;

-- The leading column of (country_code, created_at).
-- expect: function-on-indexed-column
SELECT id FROM users WHERE lower(country_code) = $1 ORDER BY id LIMIT 20;

-- IN over a function of the key.
-- expect: function-on-indexed-column
SELECT p.id FROM categories c JOIN products p ON p.category_id = c.id WHERE abs(p.category_id) IN (1, 2, 3) ORDER BY p.id LIMIT 20;

-- Small table (categories, 500 rows): no difference in practice.
-- expect: none
SELECT id FROM categories WHERE lower(slug) = $1;

-- BETWEEN over a function of an indexed timestamp-free column.
-- expect: function-on-indexed-column
SELECT l_orderkey FROM lineitem WHERE l_shipdate + 30 BETWEEN $1 AND $2 ORDER BY l_orderkey, l_linenumber LIMIT 20;

-- expect: none
SELECT l_orderkey FROM lineitem WHERE l_shipdate BETWEEN $1::date - 30 AND $2::date - 30 ORDER BY l_orderkey, l_linenumber LIMIT 20;

-- In a join condition against a column of another table.
-- expect: function-on-indexed-column
SELECT s.id, u.id FROM sessions s JOIN users u ON u.id::text = s.user_agent WHERE s.id = $1 ORDER BY u.id LIMIT 1;

-- In UPDATE and DELETE.
-- expect: function-on-indexed-column
UPDATE users SET status = 'inactive' WHERE upper(email) = $1;

-- expect: function-on-indexed-column
DELETE FROM events WHERE user_id::text = $1;

-- expect: none
DELETE FROM events WHERE user_id = $1::bigint;

-- The cast is on the parameter, not the column.
-- expect: none
SELECT id FROM events WHERE user_id = CAST($1 AS bigint) ORDER BY id LIMIT 10;

-- coalesce over an indexed column.
-- expect: function-on-indexed-column
SELECT id FROM sessions WHERE coalesce(user_id, 0) = $1 ORDER BY id LIMIT 10;

-- Functions in the select list are not predicates.
-- expect: none
SELECT upper(email), lower(username) FROM users WHERE id = $1;

-- A hash index is also lost behind a function.
-- expect: function-on-indexed-column
SELECT id FROM sessions WHERE upper(token) = $1 ORDER BY id LIMIT 1;

-- pgbench: arithmetic on the key.
-- expect: function-on-indexed-column
SELECT abalance FROM pgbench_accounts WHERE aid - 1 = $1 ORDER BY aid LIMIT 1;

-- expect: none
SELECT abalance FROM pgbench_accounts WHERE aid = $1 + 1;

-- An expression over a column no index covers, on 50,000 users: the planner estimates 250
-- rows (0.5%) and scans them all; with CREATE INDEX ON users ((lower(username))) it uses it.
-- expect: unindexed-filter
SELECT id, email FROM users WHERE lower(username) = $1;

-- A JSON field by equality: an expression index on (payload->>'ref') serves it.
-- expect: unindexed-filter
SELECT id FROM events WHERE payload->>'ref' = $1 ORDER BY id LIMIT 20;
