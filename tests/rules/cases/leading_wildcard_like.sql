-- leading-wildcard-like: LIKE/ILIKE patterns that start with a wildcard on large tables
-- without a trigram index; trigram indexes (GIN and GiST), prefix patterns, small tables,
-- parameters and NOT LIKE are not flagged.

-- expect: leading-wildcard-like
SELECT id FROM users WHERE email LIKE '%@example.com' ORDER BY id LIMIT 50;

-- A prefix pattern can use a btree index (C collation).
-- expect: none
SELECT id FROM users WHERE email LIKE 'user1%' ORDER BY id LIMIT 50;

-- username has a GIN trigram index.
-- expect: none
SELECT id FROM users WHERE username LIKE '%abc%' ORDER BY id LIMIT 50;

-- expect: none
SELECT id FROM users WHERE username ILIKE '%ABC%' ORDER BY id LIMIT 50;

-- products.name has a GiST trigram index.
-- expect: none
SELECT id FROM products WHERE name ILIKE '%widget%' ORDER BY id LIMIT 20;

-- lower(name) has a GIN trigram expression index.
-- expect: none
SELECT id FROM products WHERE lower(name) LIKE '%widget%' ORDER BY id LIMIT 20;

-- upper(name) does not.
-- expect: leading-wildcard-like
-- suggest: CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY ON products USING gin ((upper(name)) gin_trgm_ops);
SELECT id FROM products WHERE upper(name) LIKE '%WIDGET%' ORDER BY id LIMIT 20;

-- expect: leading-wildcard-like
-- suggest: CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY ON products USING gin (description gin_trgm_ops);
SELECT id FROM products WHERE description ILIKE '%steel%' ORDER BY id LIMIT 20;

-- A single-character wildcard first.
-- expect: leading-wildcard-like
SELECT id FROM products WHERE description LIKE '_escription%' ORDER BY id LIMIT 20;

-- Built by concatenation with a parameter.
-- expect: leading-wildcard-like
SELECT id FROM audit_log WHERE detail LIKE '%' || $1 || '%' ORDER BY id LIMIT 20;

-- expect: leading-wildcard-like
SELECT id FROM audit_log WHERE detail ILIKE concat('%', $1) ORDER BY id LIMIT 20;

-- A parameter pattern: unknown, not flagged.
-- expect: none
SELECT id FROM audit_log WHERE detail LIKE $1 ORDER BY id LIMIT 20;

-- expect: none
SELECT id FROM audit_log WHERE detail LIKE $1 || '%' ORDER BY id LIMIT 20;

-- NOT LIKE keeps most rows; no index helps it anyway.
-- expect: none
SELECT id FROM audit_log WHERE detail NOT LIKE '%secret%' ORDER BY id LIMIT 20;

-- Small table.
-- expect: none
SELECT code FROM countries WHERE name LIKE '%land%';

-- expect: none
SELECT id FROM categories WHERE name ILIKE '%home%';

-- Operator spelling.
-- expect: leading-wildcard-like
SELECT id FROM events WHERE source ~~ '%droid' ORDER BY id LIMIT 20;

-- TPC-H: part type suffix search (part has 20,000 rows).
-- expect: leading-wildcard-like
SELECT p_partkey FROM part WHERE p_type LIKE '%BRASS' ORDER BY p_partkey LIMIT 20;

-- expect: leading-wildcard-like
SELECT count(*) FROM part WHERE p_name LIKE '%green%';

-- expect: none
SELECT count(*) FROM part WHERE p_name LIKE 'part green%';

-- Supplier (1,000 rows) comment search is small.
-- expect: none
SELECT s_suppkey FROM supplier WHERE s_comment LIKE '%Customer%Complaints%';

-- expect: leading-wildcard-like
SELECT o_orderkey FROM orders WHERE o_comment NOT LIKE 'x%' AND o_comment LIKE '%special%requests%' ORDER BY o_orderkey LIMIT 10;

-- In a join condition (audit_log.actor_id has no index either).
-- expect: leading-wildcard-like, heavy-join
SELECT u.id, a.id FROM users u JOIN audit_log a ON a.actor_id = u.id AND a.detail LIKE '%login%' WHERE u.id = $1 ORDER BY a.id LIMIT 10;

-- In an UPDATE.
-- expect: leading-wildcard-like
UPDATE users SET bio = NULL WHERE bio LIKE '%http://%';

-- pgbench filler.
-- expect: leading-wildcard-like
SELECT aid FROM pgbench_accounts WHERE filler LIKE '%x%' ORDER BY aid LIMIT 10;
