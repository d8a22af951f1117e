-- The analyzer's other rules in context: select-star, order-by-random, update/delete
-- without WHERE, not-in-subquery, large-in-list, deep-offset and cartesian-join, with
-- their near misses. Queries are written so that only the rule under test applies.

-- expect: select-star
SELECT * FROM users WHERE id = $1;

-- expect: select-star
SELECT u.* FROM users u WHERE u.id = $1;

-- count(*) is not a star column.
-- expect: none
SELECT count(*) FROM users WHERE country_code = $1;

-- A star inside EXISTS never reaches the client.
-- expect: none
SELECT u.email FROM users u WHERE u.id = $1 AND EXISTS (SELECT * FROM sessions s WHERE s.user_id = u.id);

-- expect: select-star
SELECT * FROM settings;

-- expect: order-by-random
SELECT id, name FROM products WHERE category_id = $1 ORDER BY random() LIMIT 1;

-- expect: none
SELECT id, name FROM products WHERE category_id = $1 ORDER BY id LIMIT 1;

-- expect: order-by-random
SELECT code FROM countries ORDER BY random() LIMIT 3;

-- expect: update-without-where
UPDATE users SET status = 'active';

-- UPDATE ... FROM with nothing relating the two: every product pairs with every category.
-- expect: update-without-where, cartesian-join
UPDATE products p SET price_cents = p.price_cents + 100 FROM categories c;

-- expect: none
UPDATE users SET status = 'active' WHERE id = $1;

-- expect: delete-without-where
DELETE FROM sessions;

-- expect: none
DELETE FROM sessions WHERE expires_at < now();

-- expect: delete-without-where
WITH gone AS (DELETE FROM audit_log RETURNING id) SELECT count(*) FROM gone;

-- expect: not-in-subquery
SELECT id FROM users WHERE id NOT IN (SELECT user_id FROM sessions) ORDER BY id LIMIT 100;

-- expect: not-in-subquery
SELECT id FROM products WHERE id <> ALL (SELECT product_id FROM comments) ORDER BY id LIMIT 100;

-- expect: none
SELECT u.id FROM users u WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id) ORDER BY u.id LIMIT 100;

-- NOT IN over a literal list is not a subquery.
-- expect: none
SELECT id FROM users WHERE country_code NOT IN ('AA', 'AB') ORDER BY id LIMIT 100;

-- expect: large-in-list
SELECT id, email FROM users WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 148, 149, 150);

-- expect: large-in-list
SELECT id FROM products WHERE sku IN ('SKU-000001', 'SKU-000002', 'SKU-000003', 'SKU-000004', 'SKU-000005', 'SKU-000006', 'SKU-000007', 'SKU-000008', 'SKU-000009', 'SKU-000010', 'SKU-000011', 'SKU-000012', 'SKU-000013', 'SKU-000014', 'SKU-000015', 'SKU-000016', 'SKU-000017', 'SKU-000018', 'SKU-000019', 'SKU-000020', 'SKU-000021', 'SKU-000022', 'SKU-000023', 'SKU-000024', 'SKU-000025', 'SKU-000026', 'SKU-000027', 'SKU-000028', 'SKU-000029', 'SKU-000030', 'SKU-000031', 'SKU-000032', 'SKU-000033', 'SKU-000034', 'SKU-000035', 'SKU-000036', 'SKU-000037', 'SKU-000038', 'SKU-000039', 'SKU-000040', 'SKU-000041', 'SKU-000042', 'SKU-000043', 'SKU-000044', 'SKU-000045', 'SKU-000046', 'SKU-000047', 'SKU-000048', 'SKU-000049', 'SKU-000050', 'SKU-000051', 'SKU-000052', 'SKU-000053', 'SKU-000054', 'SKU-000055', 'SKU-000056', 'SKU-000057', 'SKU-000058', 'SKU-000059', 'SKU-000060', 'SKU-000061', 'SKU-000062', 'SKU-000063', 'SKU-000064', 'SKU-000065', 'SKU-000066', 'SKU-000067', 'SKU-000068', 'SKU-000069', 'SKU-000070', 'SKU-000071', 'SKU-000072', 'SKU-000073', 'SKU-000074', 'SKU-000075', 'SKU-000076', 'SKU-000077', 'SKU-000078', 'SKU-000079', 'SKU-000080', 'SKU-000081', 'SKU-000082', 'SKU-000083', 'SKU-000084', 'SKU-000085', 'SKU-000086', 'SKU-000087', 'SKU-000088', 'SKU-000089', 'SKU-000090', 'SKU-000091', 'SKU-000092', 'SKU-000093', 'SKU-000094', 'SKU-000095', 'SKU-000096', 'SKU-000097', 'SKU-000098', 'SKU-000099', 'SKU-000100', 'SKU-000101', 'SKU-000102', 'SKU-000103', 'SKU-000104', 'SKU-000105', 'SKU-000106', 'SKU-000107', 'SKU-000108', 'SKU-000109', 'SKU-000110', 'SKU-000111', 'SKU-000112', 'SKU-000113', 'SKU-000114', 'SKU-000115', 'SKU-000116', 'SKU-000117', 'SKU-000118', 'SKU-000119', 'SKU-000120');

-- expect: large-in-list
SELECT id FROM events WHERE user_id = ANY (ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 192, 193, 194, 195, 196, 197, 198, 199, 200]) ORDER BY id LIMIT 100;

-- Fifty elements stay under the threshold.
-- expect: none
SELECT id, email FROM users WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50);

-- An array parameter is one value, whatever its length.
-- expect: none
SELECT id, email FROM users WHERE id = ANY ($1::bigint[]);

-- expect: deep-offset
SELECT id, email FROM users ORDER BY id LIMIT 20 OFFSET 100000;

-- A parameter offset grows with the page number.
-- expect: deep-offset
SELECT id, email FROM users ORDER BY id LIMIT 20 OFFSET $1;

-- expect: none
SELECT id, email FROM users ORDER BY id LIMIT 20 OFFSET 40;

-- expect: deep-offset, nondeterministic-pagination
SELECT id FROM events LIMIT 50 OFFSET 5000;

-- Two relations and nothing relating them.
-- expect: cartesian-join
SELECT u.id, p.id FROM users u, products p WHERE u.country_code = $1 AND p.category_id = $2 ORDER BY u.id, p.id LIMIT 10;

-- expect: cartesian-join
SELECT u.id, s.id FROM users u CROSS JOIN sessions s WHERE u.country_code = $1 ORDER BY u.id, s.id LIMIT 10;

-- One side pinned to a single row by its primary key cannot multiply anything.
-- expect: none
SELECT u.id, s.id FROM users u CROSS JOIN sessions s WHERE u.id = $1 ORDER BY s.id LIMIT 10;

-- expect: none
SELECT u.id, s.id FROM users u, sessions s WHERE s.user_id = u.id AND u.id = $1 ORDER BY s.id LIMIT 10;

-- expect: cartesian-join
SELECT o.o_orderkey, c.c_name, n.n_name FROM orders o JOIN customer c ON c.c_custkey = o.o_custkey, nation n WHERE o.o_orderkey = $1;

-- expect: none
SELECT o.o_orderkey, c.c_name, n.n_name FROM orders o JOIN customer c ON c.c_custkey = o.o_custkey JOIN nation n ON n.n_nationkey = c.c_nationkey WHERE o.o_orderkey = $1;

-- A lateral function and an unnest are not tables to join.
-- expect: none
SELECT u.id, t.tag FROM users u, unnest(ARRAY['a', 'b']) AS t(tag) WHERE u.id = $1;

-- Suppressed inline.
-- expect: none
SELECT * FROM users WHERE id = $1; -- pgscope:ignore select-star

-- expect: none
/* pgscope:ignore delete-without-where */ DELETE FROM sessions;

-- expect: none
INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, now()) ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- A window ordered by random(): the planner sorts all 20,000 products before the LIMIT.
-- expect: order-by-random, nondeterministic-pagination
SELECT id, row_number() OVER (ORDER BY random()) FROM products LIMIT 10;

-- The same through a named window, with an ORDER BY that pins the page.
-- expect: order-by-random
SELECT id, rank() OVER w FROM products WINDOW w AS (ORDER BY random()) ORDER BY id LIMIT 5;

-- A window ordered by a real key is not a random sample.
-- expect: none
SELECT id, row_number() OVER (ORDER BY created_at) FROM events WHERE user_id = $1 ORDER BY id LIMIT 20;

-- OFFSET on a primary-key lookup: one row at most, nothing to skip (Index Scan, rows=1).
-- expect: none
SELECT id, email FROM users WHERE id = $1 OFFSET 5000;

-- The same OFFSET on a filter that keeps many rows is deep.
-- expect: deep-offset
SELECT id, email FROM users WHERE plan_id = $1 ORDER BY id LIMIT 20 OFFSET 5000;
