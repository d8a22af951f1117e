-- nondeterministic-pagination: LIMIT/OFFSET without ORDER BY or with ORDER BY on a
-- non-unique key, and the cases whose rows are fixed.

-- expect: nondeterministic-pagination
SELECT id, email FROM users LIMIT 20;

-- expect: nondeterministic-pagination
SELECT id, email FROM users LIMIT 20 OFFSET 40;

-- expect: none
SELECT id, email FROM users ORDER BY id LIMIT 20 OFFSET 40;

-- created_at of users is not declared unique.
-- expect: nondeterministic-pagination
SELECT id, email FROM users ORDER BY created_at DESC LIMIT 20;

-- expect: none
SELECT id, email FROM users ORDER BY created_at DESC, id DESC LIMIT 20;

-- expect: nondeterministic-pagination
SELECT id, name FROM products ORDER BY price_cents LIMIT 24 OFFSET 48;

-- expect: none
SELECT id, name FROM products ORDER BY price_cents, id LIMIT 24 OFFSET 48;

-- A unique column alone.
-- expect: none
SELECT id, name FROM products ORDER BY sku LIMIT 24;

-- Ordinal and alias references resolve to the column.
-- expect: none
SELECT sku AS code, name FROM products ORDER BY 1 LIMIT 24;

-- expect: none
SELECT sku AS code, name FROM products ORDER BY code LIMIT 24;

-- expect: nondeterministic-pagination
SELECT price_cents AS price, name FROM products ORDER BY price LIMIT 24;

-- The composite primary key, complete.
-- expect: none
SELECT l_orderkey, l_linenumber FROM lineitem ORDER BY l_orderkey, l_linenumber LIMIT 100;

-- Half of it.
-- expect: nondeterministic-pagination
SELECT l_orderkey, l_linenumber FROM lineitem ORDER BY l_orderkey LIMIT 100;

-- The other key column fixed by equality completes the key.
-- expect: none
SELECT l_linenumber, l_quantity FROM lineitem WHERE l_orderkey = $1 ORDER BY l_linenumber LIMIT 10;

-- Keyset pagination on (created_at, id).
-- expect: none
SELECT id, kind FROM events WHERE user_id = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT 50;

-- expect: nondeterministic-pagination
SELECT id, kind FROM events WHERE user_id = $1 ORDER BY created_at DESC LIMIT 50;

-- A unique lookup does not need ORDER BY.
-- expect: none
SELECT email FROM users WHERE id = $1 LIMIT 1;

-- An existence probe: the selected value is a constant.
-- expect: none
SELECT 1 FROM events WHERE user_id = $1 LIMIT 1;

-- Which row is returned depends on the plan.
-- expect: nondeterministic-pagination
SELECT id FROM events WHERE user_id = $1 LIMIT 1;

-- expect: none
SELECT id FROM events WHERE user_id = $1 ORDER BY id LIMIT 1;

-- Aggregates without GROUP BY return one row.
-- expect: none
SELECT count(*) FROM events WHERE kind = 'click' LIMIT 1;

-- GROUP BY key fully in ORDER BY: the groups are unique.
-- expect: none
SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind LIMIT 5;

-- Ordered by the count only: kinds with the same count tie, and ties come back in any order.
-- expect: nondeterministic-pagination
SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY n DESC LIMIT 5;

-- The count with the group key after it: ties are broken.
-- expect: none
SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY n DESC, kind LIMIT 5;

-- An expression over a column whose values are all distinct (n_distinct -1): no ties.
-- expect: none
SELECT id, username FROM users ORDER BY lower(username) LIMIT 20;

-- An expression over a column that repeats: users of one country tie.
-- expect: nondeterministic-pagination
SELECT id, country_code FROM users ORDER BY lower(country_code) LIMIT 20;

-- A sum of amounts rarely ties: not flagged.
-- expect: none
SELECT l_orderkey, sum(l_extendedprice) AS total FROM lineitem GROUP BY l_orderkey ORDER BY total DESC LIMIT 10;

-- expect: nondeterministic-pagination
SELECT kind, source, count(*) FROM events GROUP BY kind, source ORDER BY kind LIMIT 5;

-- DISTINCT output ordered by all of its columns.
-- expect: none
SELECT DISTINCT country_code FROM users ORDER BY country_code LIMIT 10;

-- expect: nondeterministic-pagination
SELECT DISTINCT ON (user_id) user_id, id FROM events ORDER BY user_id LIMIT 10;

-- ORDER BY random() is order-by-random's finding, not this one.
-- expect: order-by-random
SELECT id FROM products ORDER BY random() LIMIT 5;

-- An EXISTS subquery with LIMIT.
-- expect: none
SELECT u.id FROM users u WHERE u.id = $1 AND EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.id LIMIT 1);

-- A scalar subquery picking an arbitrary row.
-- expect: nondeterministic-pagination
SELECT u.id, (SELECT e.kind FROM events e WHERE e.user_id = u.id LIMIT 1) FROM users u WHERE u.id = $1;

-- expect: none
SELECT u.id, (SELECT e.kind FROM events e WHERE e.user_id = u.id ORDER BY e.created_at DESC, e.id DESC LIMIT 1) FROM users u WHERE u.id = $1;

-- A join ordered by the driving table's primary key.
-- expect: none
SELECT o.o_orderkey, c.c_name FROM orders o JOIN customer c ON c.c_custkey = o.o_custkey ORDER BY o.o_orderkey LIMIT 20;

-- expect: nondeterministic-pagination
SELECT o.o_orderkey, c.c_name FROM orders o JOIN customer c ON c.c_custkey = o.o_custkey ORDER BY o.o_orderdate LIMIT 20;

-- UNION with LIMIT and no ORDER BY.
-- expect: nondeterministic-pagination
SELECT id FROM users WHERE country_code = 'AB' UNION ALL SELECT id FROM users WHERE country_code = 'AC' LIMIT 10;

-- expect: none
SELECT id FROM users WHERE country_code = 'AB' UNION ALL SELECT id FROM users WHERE country_code = 'AC' ORDER BY 1 LIMIT 10;

-- Small tables are paginated the same way, and the same problem applies.
-- expect: nondeterministic-pagination
SELECT code, name FROM countries ORDER BY region LIMIT 10;

-- expect: none
SELECT code, name FROM countries ORDER BY region, code LIMIT 10;

-- A CTE column: uniqueness unknown, so nothing is claimed.
-- expect: none
WITH t AS (SELECT user_id, count(*) AS n FROM events GROUP BY user_id) SELECT user_id, n FROM t ORDER BY n LIMIT 10;

-- FETCH FIRST without ORDER BY.
-- expect: nondeterministic-pagination
SELECT id FROM sessions FETCH FIRST 10 ROWS ONLY;

-- Deleting "some" rows in batches: which ones does not matter, but the batch is still arbitrary.
-- expect: nondeterministic-pagination
DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < now() LIMIT 1000);

-- expect: none
DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < now() ORDER BY id LIMIT 1000);

-- pgbench: the tellers table is tiny, but its order is still not fixed.
-- expect: nondeterministic-pagination
SELECT tid, tbalance FROM pgbench_tellers LIMIT 5;

-- expect: none
SELECT tid, tbalance FROM pgbench_tellers ORDER BY tid LIMIT 5;
