// node_pg_workload.js - node-postgres through pgscope with named queries (prepared once per connection).
//
// Usage: node node_pg_workload.js HOST PORT DBNAME [CLIENTS] [ROUNDS]
//
// CLIENTS connections run concurrently, each ROUNDS rounds of checked named
// queries and a transaction. Prints one summary line; exit status 0 only
// without errors.
'use strict';

const { Client } = require('pg');

const [host, port, database] = process.argv.slice(2, 5);
const clients = Number(process.argv[5] || 6);
const rounds = Number(process.argv[6] || 40);

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function client(n) {
  const who = `node-pg-${n}`;
  const c = new Client({ host, port: Number(port), database, user: 'postgres', connectionTimeoutMillis: 10000 });
  let done = 0;
  await c.connect();
  try {
    await c.query('DELETE FROM it_drivers WHERE who = $1', [who]);
    for (let i = 0; i < rounds; i++) {
      let r = await c.query({ name: 'it-add', text: 'SELECT $1::int + $2::int AS v', values: [i, n] });
      check(r.rows[0].v === i + n, `sum ${r.rows[0].v}`);
      await c.query('BEGIN');
      r = await c.query({ name: 'it-ins', text: 'INSERT INTO it_drivers (who, n) VALUES ($1, $2) RETURNING n', values: [who, i] });
      check(r.rows[0].n === i, 'insert returning');
      r = await c.query({ name: 'it-cnt', text: 'SELECT count(*)::int AS v FROM it_drivers WHERE who = $1', values: [who] });
      check(r.rows[0].v === i + 1, `count ${r.rows[0].v}`);
      await c.query('COMMIT');
      done += 5;
    }
  } finally {
    await c.end();
  }
  return done;
}

async function main() {
  const results = await Promise.allSettled([...Array(clients).keys()].map(client));
  const errors = results.map((r, n) => (r.status === 'rejected' ? `client ${n}: ${r.reason}` : null)).filter(Boolean);
  const done = results.reduce((s, r) => s + (r.status === 'fulfilled' ? r.value : 0), 0);
  errors.forEach((e) => console.log(e));
  const version = require('pg/package.json').version;
  console.log(`node-postgres ${version}: ${clients} clients, ${done} statements, ${errors.length} errors`);
  process.exit(errors.length ? 1 : 0);
}

main().catch((e) => {
  console.log(`node-postgres: ${e}`);
  process.exit(1);
});
