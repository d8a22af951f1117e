-- Analytical multi-join queries of the kind dashboards and reports run over the
-- application tables and the TPC-H-like tables.

-- Daily active users per country for a date range.
-- expect: missing-pagination
SELECT u.country_code, date_trunc('day', e.created_at) AS day, count(DISTINCT e.user_id) AS dau
FROM events e JOIN users u ON u.id = e.user_id
WHERE e.created_at >= $1 AND e.created_at < $2
GROUP BY u.country_code, day
ORDER BY day, u.country_code;

-- Revenue per plan: three plans, bounded.
-- expect: none
SELECT p.name, sum(e.amount_cents) AS revenue
FROM events e JOIN users u ON u.id = e.user_id JOIN plans p ON p.id = u.plan_id
WHERE e.kind = 'purchase' AND e.created_at >= $1 AND e.created_at < $2
GROUP BY p.name
ORDER BY revenue DESC;

-- Top products by rating with their category, paginated.
-- expect: none
SELECT p.id, p.name, k.name AS category, avg(c.rating) AS rating, count(*) AS reviews
FROM products p JOIN categories k ON k.id = p.category_id JOIN comments c ON c.product_id = p.id
WHERE p.discontinued = false
GROUP BY p.id, p.name, k.name
ORDER BY rating DESC, p.id
LIMIT 50;

-- Category tree sales: product, category and parent category, grouped by the parent (at most 500).
-- expect: none
SELECT parent.name, sum(l.l_quantity)
FROM lineitem l JOIN products p ON p.id = l.l_partkey JOIN categories k ON k.id = p.category_id
JOIN categories parent ON parent.id = k.parent_id
WHERE l.l_shipdate >= $1 AND l.l_shipdate < $2
GROUP BY parent.name;

-- Funnel: signups that purchased within the period, by source.
-- expect: none
SELECT s.source, count(DISTINCT s.user_id) AS signups, count(DISTINCT p.user_id) AS buyers
FROM events s LEFT JOIN events p ON p.user_id = s.user_id AND p.kind = 'purchase' AND p.created_at > s.created_at
WHERE s.kind = 'signup' AND s.created_at >= $1 AND s.created_at < $2
GROUP BY s.source;

-- Sessions per user agent joined to the users' countries: many-to-many on a shared column.
-- expect: heavy-join
SELECT s.user_agent, count(*)
FROM sessions s JOIN users u ON u.country_code = s.user_agent
GROUP BY s.user_agent;

-- Audit trail of one user's actions with the sessions open at the time: actor_id has no index.
-- expect: unindexed-filter
SELECT a.id, a.action, s.ip
FROM audit_log a JOIN sessions s ON s.user_id = a.actor_id AND a.created_at BETWEEN s.created_at AND s.expires_at
WHERE a.actor_id = $1 AND a.created_at >= $2
ORDER BY a.id
LIMIT 100;

-- Customers' order totals by market segment and nation (5 x 25 groups).
-- expect: none
SELECT c.c_mktsegment, n.n_name, count(DISTINCT o.o_orderkey), sum(o.o_totalprice)
FROM customer c JOIN orders o ON o.o_custkey = c.c_custkey JOIN nation n ON n.n_nationkey = c.c_nationkey
WHERE o.o_orderdate >= date '1995-01-01' AND o.o_orderdate < date '1996-01-01'
GROUP BY c.c_mktsegment, n.n_name
ORDER BY c.c_mktsegment, n.n_name;

-- Supplier scorecard: late lines per supplier and region (1,000 x 5 groups).
-- expect: missing-pagination
SELECT s.s_name, r.r_name, count(*) FILTER (WHERE l.l_receiptdate > l.l_commitdate) AS late, count(*) AS total
FROM lineitem l JOIN supplier s ON s.s_suppkey = l.l_suppkey JOIN nation n ON n.n_nationkey = s.s_nationkey
JOIN region r ON r.r_regionkey = n.n_regionkey
WHERE l.l_shipdate >= date '1997-01-01' AND l.l_shipdate < date '1998-01-01'
GROUP BY s.s_name, r.r_name;

-- The same scorecard, top 20.
-- expect: none
SELECT s.s_name, r.r_name, count(*) FILTER (WHERE l.l_receiptdate > l.l_commitdate) AS late, count(*) AS total
FROM lineitem l JOIN supplier s ON s.s_suppkey = l.l_suppkey JOIN nation n ON n.n_nationkey = s.s_nationkey
JOIN region r ON r.r_regionkey = n.n_regionkey
WHERE l.l_shipdate >= date '1997-01-01' AND l.l_shipdate < date '1998-01-01'
GROUP BY s.s_name, r.r_name
ORDER BY late DESC, s.s_name
LIMIT 20;

-- Parts that were never ordered: anti-join written with NOT EXISTS.
-- expect: missing-pagination
SELECT p.p_partkey, p.p_name FROM part p
WHERE NOT EXISTS (SELECT 1 FROM lineitem l WHERE l.l_partkey = p.p_partkey);

-- The same with NOT IN over a subquery.
-- expect: missing-pagination, not-in-subquery
SELECT p.p_partkey, p.p_name FROM part p WHERE p.p_partkey NOT IN (SELECT l_partkey FROM lineitem);

-- Year-over-year revenue by order priority from a CTE (5 x years).
-- expect: missing-pagination
WITH yearly AS (
	SELECT o_orderpriority, extract(year FROM o_orderdate) AS yr, sum(o_totalprice) AS total
	FROM orders GROUP BY o_orderpriority, extract(year FROM o_orderdate))
SELECT a.o_orderpriority, a.yr, a.total, a.total / b.total - 1 AS growth
FROM yearly a JOIN yearly b ON b.o_orderpriority = a.o_orderpriority AND b.yr = a.yr - 1
ORDER BY a.o_orderpriority, a.yr;

-- Clerk performance in one month: a selective filter on an unindexed column.
-- expect: unindexed-filter
SELECT o.o_clerk, count(*), sum(l.l_extendedprice)
FROM orders o JOIN lineitem l ON l.l_orderkey = o.o_orderkey
WHERE o.o_clerk = $1 AND o.o_orderdate >= $2
GROUP BY o.o_clerk;

-- Seven-way join for a full order document.
-- expect: heavy-join
SELECT o.o_orderkey, c.c_name, n.n_name, r.r_name, l.l_linenumber, p.p_name, s.s_name
FROM orders o JOIN customer c ON c.c_custkey = o.o_custkey JOIN nation n ON n.n_nationkey = c.c_nationkey
JOIN region r ON r.r_regionkey = n.n_regionkey JOIN lineitem l ON l.l_orderkey = o.o_orderkey
JOIN part p ON p.p_partkey = l.l_partkey JOIN supplier s ON s.s_suppkey = l.l_suppkey
WHERE o.o_orderkey = $1
ORDER BY l.l_linenumber
LIMIT 10;

-- Comment sentiment search across products: leading-wildcard text search.
-- expect: leading-wildcard-like
SELECT p.name, count(*) FROM comments c JOIN products p ON p.id = c.product_id
WHERE c.body ILIKE '%broken%' GROUP BY p.name ORDER BY count(*) DESC, p.name LIMIT 20;

-- Retention cohort: monthly cohorts of users and their later activity (grouped by expressions).
-- expect: missing-pagination
SELECT date_trunc('month', u.created_at) AS cohort, date_trunc('month', e.created_at) AS active_month, count(DISTINCT u.id)
FROM users u JOIN events e ON e.user_id = u.id
WHERE u.created_at >= $1
GROUP BY 1, 2
ORDER BY 1, 2;
