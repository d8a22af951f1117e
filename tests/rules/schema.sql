-- schema.sql: the database the rule corpus is checked against (PostgreSQL 15).
--
-- Large tables get real generated rows and ANALYZE, so reltuples and pg_stats
-- (n_distinct, null_frac, most common values) are what a production server
-- would report. Values are derived from the row number, not random(), so the
-- statistics are the same on every run. Small lookup tables stay under 10,000
-- rows. Indexes of every kind the rules distinguish: btree (single, multicolumn,
-- unique, partial, expression), hash, GIN (pg_trgm, jsonb, array), GiST
-- (pg_trgm, geometry), BRIN, and one invalid index.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- ---------------------------------------------------------------- small tables
CREATE TABLE countries (
	code char(2) PRIMARY KEY,
	name text NOT NULL,
	region text NOT NULL
);
INSERT INTO countries
SELECT chr(65 + i / 26) || chr(65 + i % 26), 'Country ' || i, 'R' || (i % 5)
FROM generate_series(0, 199) i;

CREATE TABLE settings (
	key text PRIMARY KEY,
	value text NOT NULL,
	updated_at timestamptz NOT NULL
);
INSERT INTO settings SELECT 'key' || i, 'v' || i, '2024-01-01'::timestamptz FROM generate_series(1, 40) i;

CREATE TABLE plans (
	id int PRIMARY KEY,
	name text NOT NULL UNIQUE,
	price_cents int NOT NULL
);
INSERT INTO plans VALUES (1, 'free', 0), (2, 'pro', 1500), (3, 'team', 4900);

CREATE TABLE categories (
	id int PRIMARY KEY,
	parent_id int,
	name text NOT NULL,
	slug text NOT NULL
);
INSERT INTO categories SELECT i, CASE WHEN i > 20 THEN i % 20 + 1 END, 'Category ' || i, 'cat-' || i
FROM generate_series(1, 500) i;

-- ---------------------------------------------------------------- users (50,000)
CREATE TABLE users (
	id bigint PRIMARY KEY,
	email text NOT NULL UNIQUE,
	username text NOT NULL,
	status text NOT NULL,           -- active 95%, inactive 4%, banned 1%
	country_code char(2) NOT NULL,  -- 77 values
	plan_id int NOT NULL,           -- 1: 94%, 2: 5%, 3: 1%
	created_at timestamptz NOT NULL,
	last_login_at timestamptz,      -- NULL for a third
	referrer_id bigint,             -- NULL for 80%
	deleted_at timestamptz,         -- NULL for 99.5%
	age int NOT NULL,               -- 60 values
	api_key text,                   -- unique when set, NULL for 90%
	bio text
);
INSERT INTO users
SELECT i,
	'user' || i || '@example.com',
	'user_' || substr(md5(i::text), 1, 10),
	CASE WHEN i % 100 = 0 THEN 'banned' WHEN i % 25 = 0 THEN 'inactive' ELSE 'active' END,
	chr(65 + i % 7) || chr(65 + i % 11),
	CASE WHEN i % 100 = 1 THEN 3 WHEN i % 20 = 2 THEN 2 ELSE 1 END,
	'2020-01-01'::timestamptz + i * interval '30 minutes',
	CASE WHEN i % 3 = 0 THEN NULL ELSE '2024-01-01'::timestamptz + (i % 1000) * interval '1 hour' END,
	CASE WHEN i % 5 = 0 THEN (i * 7) % 50000 + 1 END,
	CASE WHEN i % 200 = 0 THEN '2024-06-01'::timestamptz END,
	18 + i % 60,
	CASE WHEN i % 10 = 0 THEN md5('key' || i) END,
	'bio of user ' || i
FROM generate_series(1, 50000) i;
CREATE INDEX users_lower_email_idx ON users (lower(email));
CREATE INDEX users_country_created_idx ON users (country_code, created_at);
CREATE INDEX users_username_trgm_idx ON users USING gin (username gin_trgm_ops);
CREATE INDEX users_live_login_idx ON users (last_login_at) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_api_key_idx ON users (api_key) WHERE api_key IS NOT NULL;

-- ---------------------------------------------------------------- sessions (30,000)
CREATE TABLE sessions (
	id bigint PRIMARY KEY,
	token text NOT NULL,
	user_id bigint NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	ip inet,
	user_agent text
);
INSERT INTO sessions
SELECT i, md5('tok' || i), (i * 13) % 50000 + 1,
	'2024-01-01'::timestamptz + i * interval '1 minute',
	'2024-01-02'::timestamptz + i * interval '1 minute',
	('10.0.' || (i % 250) || '.' || (i % 200))::inet,
	'agent ' || (i % 40)
FROM generate_series(1, 30000) i;
CREATE INDEX sessions_token_hash_idx ON sessions USING hash (token);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- ---------------------------------------------------------------- events (200,000)
CREATE TABLE events (
	id bigint PRIMARY KEY,
	user_id bigint NOT NULL,
	session_id bigint,
	kind text NOT NULL,            -- page_view 70%, click 20%, 8 rarer kinds
	created_at timestamptz NOT NULL,
	processed boolean NOT NULL,    -- false for 2%
	amount_cents int,              -- NULL unless purchase
	payload jsonb NOT NULL,
	source text NOT NULL           -- web 60%, ios 25%, android 15%
);
INSERT INTO events
SELECT i, (i * 7) % 50000 + 1, (i * 3) % 30000 + 1,
	CASE WHEN i % 10 < 7 THEN 'page_view' WHEN i % 10 < 9 THEN 'click'
		ELSE (ARRAY['signup', 'login', 'logout', 'purchase', 'refund', 'share', 'comment', 'error'])[(i / 10) % 8 + 1] END,
	'2023-01-01'::timestamptz + i * interval '2 minutes',
	i % 50 <> 0,
	CASE WHEN i % 10 = 9 AND (i / 10) % 8 = 3 THEN (i % 9000) + 100 END,
	jsonb_build_object('path', '/p/' || (i % 300), 'ref', i % 7),
	CASE WHEN i % 20 < 12 THEN 'web' WHEN i % 20 < 17 THEN 'ios' ELSE 'android' END
FROM generate_series(1, 200000) i;
CREATE INDEX events_user_created_idx ON events (user_id, created_at);
CREATE INDEX events_unprocessed_idx ON events (created_at) WHERE NOT processed;
CREATE INDEX events_payload_idx ON events USING gin (payload jsonb_path_ops);
CREATE INDEX events_created_brin_idx ON events USING brin (created_at);

-- ---------------------------------------------------------------- products (20,000)
CREATE TABLE products (
	id bigint PRIMARY KEY,
	sku text NOT NULL UNIQUE,
	name text NOT NULL,
	description text NOT NULL,
	category_id int NOT NULL,
	price_cents int NOT NULL,
	stock int NOT NULL,
	discontinued boolean NOT NULL,  -- true for 5%
	tags text[] NOT NULL,
	created_at timestamptz NOT NULL
);
INSERT INTO products
SELECT i, 'SKU-' || lpad(i::text, 6, '0'), 'Product ' || substr(md5(i::text), 1, 8),
	'Description of product ' || i || ' ' || md5(i::text),
	i % 500 + 1, 100 + (i * 37) % 20000, (i * 11) % 300, i % 20 = 0,
	ARRAY['tag' || (i % 30), 'tag' || (i % 7)],
	'2022-01-01'::timestamptz + i * interval '1 hour'
FROM generate_series(1, 20000) i;
CREATE INDEX products_category_idx ON products (category_id);
CREATE INDEX products_name_trgm_idx ON products USING gist (name gist_trgm_ops);
CREATE INDEX products_lower_name_trgm_idx ON products USING gin (lower(name) gin_trgm_ops);
CREATE INDEX products_tags_idx ON products USING gin (tags);
CREATE INDEX products_price_idx ON products (price_cents);

-- ---------------------------------------------------------------- places (20,000)
CREATE TABLE places (
	id bigint PRIMARY KEY,
	name text NOT NULL,
	location point NOT NULL,
	kind text NOT NULL
);
INSERT INTO places
SELECT i, 'Place ' || i, point((i % 200)::float8, (i / 200)::float8),
	(ARRAY['cafe', 'shop', 'park', 'museum'])[i % 4 + 1]
FROM generate_series(1, 20000) i;
CREATE INDEX places_location_idx ON places USING gist (location);

-- ---------------------------------------------------------------- audit_log (60,000, only a primary key)
CREATE TABLE audit_log (
	id bigint PRIMARY KEY,
	actor_id bigint NOT NULL,
	action text NOT NULL,
	table_name text NOT NULL,
	row_id bigint NOT NULL,
	created_at timestamptz NOT NULL,
	detail text
);
INSERT INTO audit_log
SELECT i, (i * 17) % 50000 + 1,
	(ARRAY['insert', 'update', 'delete'])[i % 3 + 1],
	(ARRAY['users', 'products', 'orders', 'sessions'])[i % 4 + 1],
	i * 3, '2024-01-01'::timestamptz + i * interval '5 minutes', 'detail ' || i
FROM generate_series(1, 60000) i;

-- ---------------------------------------------------------------- comments (40,000), one invalid index
CREATE TABLE comments (
	id bigint PRIMARY KEY,
	product_id bigint NOT NULL,
	user_id bigint NOT NULL,
	rating int NOT NULL,            -- 1..5
	body text NOT NULL,
	created_at timestamptz NOT NULL
);
INSERT INTO comments
SELECT i, (i * 29) % 20000 + 1, (i * 31) % 30000 + 1, i % 5 + 1, 'comment ' || i,
	'2023-06-01'::timestamptz + i * interval '10 minutes'
FROM generate_series(1, 40000) i;
CREATE INDEX comments_product_idx ON comments (product_id, created_at);
-- An index left invalid the way it happens in production: CREATE UNIQUE INDEX
-- CONCURRENTLY fails on duplicate values and leaves the index behind, invalid.
\set ON_ERROR_STOP off
CREATE UNIQUE INDEX CONCURRENTLY comments_user_idx ON comments (user_id);
\set ON_ERROR_STOP on

-- ---------------------------------------------------------------- page_hits (100,000)
-- Timestamps count back from the moment of loading, one a minute (about 69
-- days), so `created_at > now() - interval '1 day'` keeps 1.4% of the rows as
-- it would on a live table: the planner folds now() and reads the histogram.
CREATE TABLE page_hits (
	id bigint PRIMARY KEY,
	user_id bigint NOT NULL,
	path text NOT NULL,
	status int NOT NULL,            -- 200 97%, 404 2%, 500 1%
	bytes int NOT NULL,
	created_at timestamptz NOT NULL
);
INSERT INTO page_hits
SELECT i, (i * 7) % 50000 + 1, '/p/' || (i % 500),
	CASE WHEN i % 100 = 0 THEN 500 WHEN i % 50 = 1 THEN 404 ELSE 200 END,
	(i * 13) % 100000, now() - i * interval '1 minute'
FROM generate_series(1, 100000) i;
CREATE INDEX page_hits_user_idx ON page_hits (user_id);

-- ---------------------------------------------------------------- pgbench (scale 1)
CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88));
CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84));
CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
INSERT INTO pgbench_branches VALUES (1, 0, NULL);
INSERT INTO pgbench_tellers SELECT i, 1, 0, NULL FROM generate_series(1, 10) i;
INSERT INTO pgbench_accounts SELECT i, 1, 0, '' FROM generate_series(1, 100000) i;
INSERT INTO pgbench_history SELECT i % 10 + 1, 1, i * 7 % 100000 + 1, i % 5000 - 2500, '2024-01-01', NULL
FROM generate_series(1, 2000) i;

-- ---------------------------------------------------------------- TPC-H-like (small scale)
CREATE TABLE region (r_regionkey int PRIMARY KEY, r_name text NOT NULL, r_comment text);
CREATE TABLE nation (n_nationkey int PRIMARY KEY, n_name text NOT NULL, n_regionkey int NOT NULL, n_comment text);
CREATE TABLE supplier (
	s_suppkey int PRIMARY KEY, s_name text NOT NULL, s_address text NOT NULL, s_nationkey int NOT NULL,
	s_phone text NOT NULL, s_acctbal numeric(12, 2) NOT NULL, s_comment text NOT NULL);
CREATE TABLE customer (
	c_custkey int PRIMARY KEY, c_name text NOT NULL, c_address text NOT NULL, c_nationkey int NOT NULL,
	c_phone text NOT NULL, c_acctbal numeric(12, 2) NOT NULL, c_mktsegment text NOT NULL, c_comment text NOT NULL);
CREATE TABLE part (
	p_partkey int PRIMARY KEY, p_name text NOT NULL, p_mfgr text NOT NULL, p_brand text NOT NULL,
	p_type text NOT NULL, p_size int NOT NULL, p_container text NOT NULL, p_retailprice numeric(12, 2) NOT NULL,
	p_comment text NOT NULL);
CREATE TABLE partsupp (
	ps_partkey int NOT NULL, ps_suppkey int NOT NULL, ps_availqty int NOT NULL,
	ps_supplycost numeric(12, 2) NOT NULL, ps_comment text NOT NULL, PRIMARY KEY (ps_partkey, ps_suppkey));
CREATE TABLE orders (
	o_orderkey int PRIMARY KEY, o_custkey int NOT NULL, o_orderstatus char(1) NOT NULL,
	o_totalprice numeric(12, 2) NOT NULL, o_orderdate date NOT NULL, o_orderpriority text NOT NULL,
	o_clerk text NOT NULL, o_shippriority int NOT NULL, o_comment text NOT NULL);
CREATE TABLE lineitem (
	l_orderkey int NOT NULL, l_partkey int NOT NULL, l_suppkey int NOT NULL, l_linenumber int NOT NULL,
	l_quantity numeric(12, 2) NOT NULL, l_extendedprice numeric(12, 2) NOT NULL,
	l_discount numeric(12, 2) NOT NULL, l_tax numeric(12, 2) NOT NULL, l_returnflag char(1) NOT NULL,
	l_linestatus char(1) NOT NULL, l_shipdate date NOT NULL, l_commitdate date NOT NULL,
	l_receiptdate date NOT NULL, l_shipinstruct text NOT NULL, l_shipmode text NOT NULL,
	l_comment text NOT NULL, PRIMARY KEY (l_orderkey, l_linenumber));

INSERT INTO region SELECT i, (ARRAY['AFRICA', 'AMERICA', 'ASIA', 'EUROPE', 'MIDDLE EAST'])[i + 1], 'region ' || i
FROM generate_series(0, 4) i;
INSERT INTO nation SELECT i, 'NATION' || i, i % 5, 'nation ' || i FROM generate_series(0, 24) i;
INSERT INTO supplier
SELECT i, 'Supplier#' || i, 'addr ' || i, i % 25, '10-' || i, (i % 10000) - 999.99,
	CASE WHEN i % 100 = 0 THEN 'Customer Complaints noted' ELSE 'supplier comment ' || i END
FROM generate_series(1, 1000) i;
INSERT INTO customer
SELECT i, 'Customer#' || i, 'addr ' || i, i % 25, (10 + i % 25) || '-' || i, (i % 10000) - 999.99,
	(ARRAY['AUTOMOBILE', 'BUILDING', 'FURNITURE', 'HOUSEHOLD', 'MACHINERY'])[i % 5 + 1], 'customer comment ' || i
FROM generate_series(1, 15000) i;
INSERT INTO part
SELECT i, 'part ' || (ARRAY['green', 'blue', 'red', 'forest', 'ivory'])[i % 5 + 1] || ' ' || i,
	'Manufacturer#' || (i % 5 + 1), 'Brand#' || (i % 5 + 1) || (i % 5 + 1),
	(ARRAY['ECONOMY ANODIZED STEEL', 'PROMO BRUSHED COPPER', 'STANDARD POLISHED TIN', 'LARGE BURNISHED BRASS', 'MEDIUM PLATED NICKEL'])[i % 5 + 1],
	i % 50 + 1, (ARRAY['SM CASE', 'MED BOX', 'LG PACK', 'JUMBO JAR', 'WRAP BAG'])[i % 5 + 1],
	900 + (i % 1000), 'part comment ' || i
FROM generate_series(1, 20000) i;
INSERT INTO partsupp
SELECT p, (p + s * 250) % 1000 + 1, (p * s) % 9999 + 1, (p % 1000) + 1.5, 'ps comment'
FROM generate_series(1, 20000) p, generate_series(0, 3) s;
INSERT INTO orders
SELECT i, (i * 7) % 15000 + 1, (ARRAY['F', 'O', 'P'])[i % 3 + 1], 1000 + (i % 50000),
	'1992-01-01'::date + (i % 2400), (ARRAY['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'])[i % 5 + 1],
	'Clerk#' || (i % 1000), 0, 'order comment ' || i
FROM generate_series(1, 50000) i;
INSERT INTO lineitem
SELECT o, (o * 3 + n) % 20000 + 1, (o + n * 250) % 1000 + 1, n, (o + n) % 50 + 1, 1000 + (o % 9000),
	((o + n) % 11) / 100.0, ((o + n) % 9) / 100.0, (ARRAY['A', 'N', 'R'])[(o + n) % 3 + 1],
	(ARRAY['F', 'O'])[(o + n) % 2 + 1], '1992-01-02'::date + ((o + n) % 2400),
	'1992-01-30'::date + ((o + n) % 2400), '1992-01-05'::date + ((o + n) % 2400),
	(ARRAY['DELIVER IN PERSON', 'COLLECT COD', 'NONE', 'TAKE BACK RETURN'])[n], (ARRAY['AIR', 'MAIL', 'SHIP', 'TRUCK', 'RAIL', 'FOB', 'REG AIR'])[(o + n) % 7 + 1],
	'lineitem comment'
FROM generate_series(1, 50000) o, generate_series(1, 4) n;

CREATE INDEX nation_region_idx ON nation (n_regionkey);
CREATE INDEX supplier_nation_idx ON supplier (s_nationkey);
CREATE INDEX customer_nation_idx ON customer (c_nationkey);
CREATE INDEX partsupp_supp_idx ON partsupp (ps_suppkey);
CREATE INDEX orders_cust_idx ON orders (o_custkey);
CREATE INDEX orders_date_idx ON orders (o_orderdate);
CREATE INDEX lineitem_part_idx ON lineitem (l_partkey);
CREATE INDEX lineitem_supp_idx ON lineitem (l_suppkey);
CREATE INDEX lineitem_shipdate_idx ON lineitem (l_shipdate);

-- Views: the rules read a view as the query it stands for.
CREATE VIEW event_feed AS SELECT id, user_id, kind, created_at FROM events;
CREATE VIEW recent_events AS
	SELECT id, user_id, kind FROM events WHERE created_at > now() - interval '1 hour';
CREATE VIEW user_plans AS SELECT u.id, u.email, p.name AS plan FROM users u JOIN plans p ON p.id = u.plan_id;

ANALYZE;

-- A table loaded after ANALYZE and never analyzed (reltuples = -1): the planner
-- sizes it from its pages and the columns' widths (27,600 rows estimated).
CREATE TABLE import_rows (
	id bigint PRIMARY KEY,
	batch int NOT NULL,
	sku text NOT NULL,
	qty int NOT NULL,
	note text
) WITH (autovacuum_enabled = false);
INSERT INTO import_rows
SELECT i, i % 200, 'SKU-' || lpad((i % 20000)::text, 6, '0'), i % 50, NULL
FROM generate_series(1, 50000) i;
