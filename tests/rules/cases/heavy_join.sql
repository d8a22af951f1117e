-- heavy-join: too many relations in one FROM, joins whose row estimate explodes, and
-- join columns without an index on the larger side; and joins that are fine.

-- Seven relations in one query level.
-- expect: heavy-join
SELECT u.id, s.id, e.id, c.id, p.id, k.id, n.name
FROM users u
JOIN sessions s ON s.user_id = u.id
JOIN events e ON e.user_id = u.id
JOIN comments c ON c.user_id = u.id
JOIN products p ON p.id = c.product_id
JOIN categories k ON k.id = p.category_id
JOIN countries n ON n.code = u.country_code
WHERE u.id = $1 ORDER BY e.id LIMIT 10;

-- Six relations are at the threshold, not above it.
-- expect: none
SELECT u.id, s.id, e.id, c.id, p.id, k.id
FROM users u
JOIN sessions s ON s.user_id = u.id
JOIN events e ON e.user_id = u.id
JOIN comments c ON c.product_id = e.id
JOIN products p ON p.id = c.product_id
JOIN categories k ON k.id = p.category_id
WHERE u.id = $1 ORDER BY e.id LIMIT 10;

-- A many-to-many join on a low-cardinality column: 200,000 x 200,000 / 10 kinds.
-- expect: heavy-join
SELECT e1.id, e2.id FROM events e1 JOIN events e2 ON e1.kind = e2.kind WHERE e1.id = $1 ORDER BY e2.id LIMIT 10;

-- expect: heavy-join
SELECT count(*) FROM users u JOIN events e ON e.source = u.status;

-- Joined on the foreign key: the estimate stays at the size of the larger side.
-- expect: none
SELECT count(*) FROM events e JOIN users u ON u.id = e.user_id;

-- expect: none
SELECT count(*) FROM lineitem l JOIN orders o ON o.o_orderkey = l.l_orderkey;

-- The large side's join column has no index.
-- expect: heavy-join
-- suggest: CREATE INDEX CONCURRENTLY ON events (session_id);
SELECT e.id, s.ip FROM events e JOIN sessions s ON s.id = e.session_id WHERE s.user_id = $1 ORDER BY e.id LIMIT 20;

-- expect: heavy-join
SELECT a.id, u.email FROM audit_log a JOIN users u ON u.id = a.actor_id WHERE u.id = $1 ORDER BY a.id LIMIT 20;

-- JOIN ... USING works the same way (comments.user_id's only index is invalid).
-- expect: heavy-join
-- suggest: DROP INDEX CONCURRENTLY comments_user_idx; CREATE INDEX CONCURRENTLY ON comments (user_id);
SELECT count(*) FROM sessions s JOIN comments c USING (user_id) WHERE s.id = $1;

-- One branch holds every account: an index on bid would return the whole table, so none is asked for.
-- expect: none
SELECT count(*) FROM pgbench_accounts JOIN pgbench_branches USING (bid);

-- expect: none
SELECT count(*) FROM pgbench_accounts JOIN pgbench_history USING (aid);

-- An invalid index does not count.
-- expect: heavy-join
SELECT count(*) FROM sessions s JOIN comments c ON c.user_id = s.user_id WHERE s.id = $1;

-- The users of one country (about 650) drive the join into comments.user_id, which has no valid index.
-- expect: heavy-join
SELECT count(*) FROM users u JOIN comments c ON c.user_id = u.id WHERE u.country_code = $1;

-- All users drive it: comments is read whole either way, hashing is right, no index is asked for.
-- expect: none
SELECT u.country_code, count(*) FROM users u JOIN comments c ON c.user_id = u.id GROUP BY u.country_code;

-- The larger side is indexed; the smaller one need not be.
-- expect: none
SELECT count(*) FROM users u JOIN sessions s ON s.user_id = u.id WHERE u.country_code = $1;

-- expect: none
SELECT p.id, c.id FROM products p JOIN comments c ON c.product_id = p.id WHERE p.id = $1 ORDER BY c.id LIMIT 20;

-- Both sides small.
-- expect: none
SELECT c.name, k.name FROM categories c JOIN categories k ON k.parent_id = c.id ORDER BY c.id, k.id LIMIT 100;

-- A small side joined to a large table's indexed column.
-- expect: none
SELECT n.n_name, count(*) FROM nation n JOIN customer c ON c.c_nationkey = n.n_nationkey GROUP BY n.n_name;

-- A small table joined to a large one through an unindexed column of the large one.
-- expect: heavy-join
SELECT k.name, count(*) FROM categories k JOIN audit_log a ON a.row_id = k.id GROUP BY k.name;

-- Supplier (1,000 rows) against lineitem's indexed l_suppkey.
-- expect: none
SELECT s.s_name, sum(l.l_quantity) FROM supplier s JOIN lineitem l ON l.l_suppkey = s.s_suppkey WHERE s.s_suppkey = $1 GROUP BY s.s_name;

-- Two subqueries joined: their columns have no catalog statistics, nothing is claimed.
-- expect: none
SELECT a.kind, b.n FROM (SELECT kind, count(*) AS n FROM events GROUP BY kind) a
JOIN (SELECT kind, count(*) AS n FROM events WHERE processed = false GROUP BY kind) b ON b.kind = a.kind;

-- Eight TPC-H relations (query 8's shape).
-- expect: heavy-join
SELECT extract(year FROM o_orderdate) AS o_year, sum(l_extendedprice * (1 - l_discount)) AS volume
FROM part, supplier, lineitem, orders, customer, nation n1, nation n2, region
WHERE p_partkey = l_partkey AND s_suppkey = l_suppkey AND l_orderkey = o_orderkey AND o_custkey = c_custkey
  AND c_nationkey = n1.n_nationkey AND n1.n_regionkey = r_regionkey AND r_name = 'AMERICA'
  AND s_nationkey = n2.n_nationkey AND o_orderdate BETWEEN date '1995-01-01' AND date '1996-12-31'
  AND p_type = 'ECONOMY ANODIZED STEEL'
GROUP BY o_year ORDER BY o_year LIMIT 10;

-- A denormalisation-free lookup chain within the threshold.
-- expect: none
SELECT o.o_orderkey, c.c_name, n.n_name, r.r_name
FROM orders o JOIN customer c ON c.c_custkey = o.o_custkey
JOIN nation n ON n.n_nationkey = c.c_nationkey JOIN region r ON r.r_regionkey = n.n_regionkey
WHERE o.o_orderkey = $1;

-- partsupp joined to lineitem on both key columns: the leading one is indexed.
-- expect: none
SELECT sum(ps.ps_supplycost * l.l_quantity) FROM lineitem l JOIN partsupp ps ON ps.ps_partkey = l.l_partkey AND ps.ps_suppkey = l.l_suppkey WHERE l.l_orderkey = $1;

-- Self-join on a unique key is fine.
-- expect: none
SELECT u.email, r.email FROM users u JOIN users r ON r.id = u.referrer_id WHERE u.id = $1;

-- Self-join: the pinned referrer's referrals are found through referrer_id, which has no index.
-- expect: heavy-join
SELECT r.email, count(*) FROM users r JOIN users u ON u.referrer_id = r.id WHERE r.id = $1 GROUP BY r.email;

-- UPDATE ... FROM and DELETE ... USING join like SELECT. audit_log.actor_id has no
-- index: EXPLAIN scans all 60,000 rows for the one user.
-- expect: heavy-join
-- suggest: CREATE INDEX CONCURRENTLY ON audit_log (actor_id);
DELETE FROM audit_log a USING users u WHERE u.id = a.actor_id AND u.id = $1;

-- One session drives a hash join over all 200,000 events (no index on session_id).
-- expect: heavy-join
UPDATE events e SET processed = true FROM sessions s WHERE s.id = e.session_id AND s.user_id = $1;

-- comments_product_idx looks the comments up (nested loop, bitmap index scan).
-- expect: none
UPDATE comments c SET rating = 1 FROM products p WHERE p.id = c.product_id AND p.sku = $1;

-- sessions_user_idx looks the sessions up.
-- expect: none
DELETE FROM sessions s USING users u WHERE u.id = s.user_id AND u.email = $1;

-- A referral downline: every iteration of the recursive term joins users on referrer_id,
-- which no index leads: the planner hashes all 50,000 users on each iteration.
-- expect: heavy-join
WITH RECURSIVE downline AS (
	SELECT id FROM users WHERE id = $1
	UNION ALL
	SELECT u.id FROM users u JOIN downline d ON u.referrer_id = d.id)
SELECT id FROM downline ORDER BY id LIMIT 100;

-- The same walk over sessions.user_id, which an index leads: a nested loop per iteration.
-- expect: none
WITH RECURSIVE chain AS (
	SELECT id, user_id FROM sessions WHERE id = $1
	UNION ALL
	SELECT s.id, s.user_id FROM sessions s JOIN chain c ON s.user_id = c.user_id)
SELECT id FROM chain ORDER BY id LIMIT 100;
