#!/usr/bin/env node
// The OpenAPI contract test's driver (run by scripts/contract-test.sh, which sets up payoutd and
// passes everything in the environment). Starts one Prism validating proxy (`prism proxy
// --errors`) per document, sends both dialects' traffic through them, checks every operation of
// every document was called, the served documents, the seeds' cancel, bad input (Prism refuses,
// payoutd answers its dialect's error) and that a deliberately broken document is caught.
// Exit 0 when everything holds, 1 otherwise.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { execFileSync, spawn } from 'node:child_process';
import yaml from 'js-yaml';
import { repoRoot, loadYaml, operationsOf, startPrism, request, prismViolation, killChildren, waitFor,
  prismUncompilableSchemas }
  from './lib.mjs';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) { console.error(`contract-test: ${name} is not set`); process.exit(2); }
  return v;
};
const BIN = env('PAYOUTD_BIN');
const UPSTREAM = env('PAYOUTD_URL');            // payoutd (default limits)
const UPSTREAM_RL = env('PAYOUTD_RL_URL');      // a second payoutd on the same db, v3 limit 1/s
const UPSTREAM_SLOW = env('PAYOUTD_SLOW_URL');  // a fourth on the same db, handler timeout 1 s
const UPSTREAM_ENGINE = env('PAYOUTD_ENGINE_URL');  // a third, with the engine, on a db of its own
const V1_ENGINE = { username: env('V1_ENGINE_USERNAME'), password: env('V1_ENGINE_PASSWORD') };
const DB_ARGS = ['--db', env('PAYOUTD_DB'), '--master-key-file', env('PAYOUTD_MASTER_KEY_FILE')];
const TMP = env('CONTRACT_TMP');
const SHARED = env('PAYOUTD_SHARED_DIR');
const V3 = { login: env('V3_LOGIN'), pass: env('V3_PASS'), secret: env('V3_SECRET') };
const V1 = { username: env('V1_USERNAME'), password: env('V1_PASSWORD') };
const V1_OFF = { username: env('V1_DISABLED_USERNAME'), password: env('V1_DISABLED_PASSWORD') };
const CALLBACK_SECRET = env('SANDBOX_CALLBACK_SECRET');
const BREAK_MISMATCH = process.env.CONTRACT_BREAK_MISMATCH_CHECK === '1';

const DOCS = ['cashouts-v3', 'payouts-v1', 'operations'];
const docFile = (d) => path.join(repoRoot, 'docs', 'openapi', `${d}.yaml`);

const failures = [];
const fail = (msg) => { failures.push(msg); console.error(`  FAIL ${msg}`); };
const sent = Object.fromEntries(DOCS.map((d) => [d, 0]));
let violations = 0;

// ---- Operations and coverage ----
const docs = Object.fromEntries(DOCS.map((d) => [d, loadYaml(docFile(d))]));
const coverage = {};   // "doc METHOD path" -> {documented, reached:Set}
for (const d of DOCS) {
  for (const op of operationsOf(docs[d])) {
    coverage[`${d} ${op.method} ${op.path}`] = { doc: d, op, reached: new Set() };
  }
}
// The document path template matching a concrete path.
function templateOf(d, method, urlPath) {
  const p = urlPath.split('?')[0];
  const candidates = Object.values(coverage).filter((c) => c.doc === d && c.op.method === method);
  // Concrete paths win over templated ones (/api/v1/payouts/cancel vs /api/v1/payouts/{id}).
  const exact = candidates.find((c) => c.op.path === p);
  if (exact) return exact;
  return candidates.find((c) => new RegExp(`^${c.op.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(p));
}

// One exchange through a document's proxy: asserts the status, no violation, and an optional
// check of the body; records coverage.
async function via(proxy, d, method, urlPath, expected, { check, label, ...opts } = {}) {
  let res;
  try {
    res = await request(proxy.url, method, urlPath, opts);
  } catch (error) {
    fail(`${d} ${method} ${urlPath}${label ? ` (${label})` : ''}: ${error.message}`);
    return undefined;
  }
  sent[d] += 1;
  const what = `${d} ${method} ${urlPath}${label ? ` (${label})` : ''}`;
  const violation = prismViolation(res);
  if (violation) { violations += 1; fail(`${what}: Prism violation: ${violation}`); return res; }
  if (res.status !== expected) {
    fail(`${what}: expected ${expected}, got ${res.status} ${res.text.slice(0, 300)}`);
    return res;
  }
  if (check) {
    const problem = check(res);
    if (problem) { fail(`${what}: ${problem}`); return res; }
  }
  const c = templateOf(d, method, urlPath);
  if (!c) fail(`${what}: no operation of ${d} matches`);
  else c.reached.add(String(res.status));
  return res;
}

const code = (n) => (res) => (res.json && res.json.code === n ? null : `expected code ${n}, got ${res.text.slice(0, 200)}`);
const errName = (n, msg) => (res) => {
  if (!res.json || res.json.error !== n) return `expected error ${n}, got ${res.text.slice(0, 200)}`;
  if (msg && res.json.message !== msg) return `expected message ${JSON.stringify(msg)}, got ${res.text.slice(0, 200)}`;
  return null;
};

// v3: the signature over the exact compact JSON that Prism will forward.
function v3(body, { secret = V3.secret, signature } = {}) {
  const text = JSON.stringify(body);
  const sig = signature ?? crypto.createHmac('sha256', secret).update(text).digest('hex');
  return { body: text, headers: { 'Content-Type': 'application/json', 'Payload-Signature': sig } };
}
const cred = { login: V3.login, pass: V3.pass };

// Operator moves along the transition table (created → queued → processing → target).
function move(id, ...target) {
  for (const st of ['queued', 'processing']) cli('payout', 'set-status', id, '--status', st);
  cli('payout', 'set-status', id, '--status', ...target);
}
function cli(...args) {
  return execFileSync(BIN, [...args, ...DB_ARGS], { encoding: 'utf8', timeout: 20000,
    stdio: ['ignore', 'pipe', 'pipe'] });
}

const t0 = Date.now();
try {
  // ---- Prism must be able to compile every schema, or it silently validates nothing ----
  for (const d of DOCS) {
    for (const b of await prismUncompilableSchemas(docFile(d))) fail(`${d}: Prism cannot compile the schema of ${b} (it would validate nothing there)`);
  }

  // ---- Proxies (started together; each waited for with a deadline) ----
  const seedsDir = path.join(SHARED, 'seeds');
  const seedFiles = fs.readdirSync(seedsDir).filter((f) => /^00[01]_.*\.txt$/.test(f)).sort();
  const seedDocs = seedFiles.map((f) => {
    const text = fs.readFileSync(path.join(seedsDir, f), 'utf8');
    const m = text.match(/```json[^\n]*\n([\s\S]*?)\n```/);   // as check-seed-subset.mjs parses it
    if (!m) throw new Error(`${f}: no \`\`\`json block`);
    const seed = JSON.parse(m[1]);
    // The seed's server is `https://…/v3` and its path `/cashout/cancel`: Prism routes on the
    // paths keys only, so clients call `/cashout/cancel` and the upstream carries the `/v3`.
    seed.servers = [{ url: `${UPSTREAM}/v3` }];
    const file = path.join(TMP, `seed-${f.replace(/\.txt$/, '')}.json`);
    fs.writeFileSync(file, JSON.stringify(seed, null, 2));
    return { name: f, file, seed };
  });

  // The deliberate mismatch: the payout object's required `status` renamed to `state`.
  const broken = loadYaml(docFile('payouts-v1'));
  const summary = broken.components.schemas.PayoutSummary;
  if (!BREAK_MISMATCH) {
    summary.required = summary.required.map((r) => (r === 'status' ? 'state' : r));
    summary.properties = Object.fromEntries(Object.entries(summary.properties)
      .map(([k, v]) => [k === 'status' ? 'state' : k, v]));
  }
  const brokenFile = path.join(TMP, 'payouts-v1-broken.yaml');
  fs.writeFileSync(brokenFile, yaml.dump(broken, { noRefs: true, lineWidth: -1 }));

  const [pv3, pv1, pops, pv3rl, pbroken, pv1e, popse, pv3s, pv1s, ...pseeds] = await Promise.all([
    startPrism('cashouts-v3', docFile('cashouts-v3'), UPSTREAM, TMP),
    startPrism('payouts-v1', docFile('payouts-v1'), UPSTREAM, TMP),
    startPrism('operations', docFile('operations'), UPSTREAM, TMP),
    startPrism('cashouts-v3-ratelimited', docFile('cashouts-v3'), UPSTREAM_RL, TMP),
    startPrism('payouts-v1-broken', brokenFile, UPSTREAM, TMP),
    startPrism('payouts-v1-engine', docFile('payouts-v1'), UPSTREAM_ENGINE, TMP),
    startPrism('operations-engine', docFile('operations'), UPSTREAM_ENGINE, TMP),
    startPrism('cashouts-v3-slow', docFile('cashouts-v3'), UPSTREAM_SLOW, TMP),
    startPrism('payouts-v1-slow', docFile('payouts-v1'), UPSTREAM_SLOW, TMP),
    ...seedDocs.map((s, i) => startPrism(`seed-${i}`, s.file, `${UPSTREAM}/v3`, TMP)),
  ]);
  console.log(`contract-test: ${9 + pseeds.length} Prism proxies listening (${Date.now() - t0} ms)`);

  // ================= Cashouts v3 =================
  const d3 = 'cashouts-v3';
  const create = (ext, extra = {}) => ({ ...cred, external_id: ext, country: 'BR', amount: '100.00',
    document_id: '12345678909', beneficiary_name: 'Ana', beneficiary_lastname: 'Silva',
    email: 'ana@example.com', ...extra });
  const ids = {};
  for (const ext of ['ct-v3-a', 'ct-v3-b', 'ct-v3-c', 'ct-v3-d', 'ct-v3-seed0', 'ct-v3-seed1']) {
    const r = await via(pv3, d3, 'POST', '/v3/cashout', 200, { ...v3(create(ext)),
      check: (res) => (/^[0-9]+$/.test(res.json?.cashout_id ?? '') ? null : 'no cashout_id') });
    ids[ext] = r?.json?.cashout_id;
  }
  await via(pv3, d3, 'POST', '/v3/cashout', 200, { ...v3(create('ct-v3-hold', { on_hold: true })), label: 'on_hold' });
  await via(pv3, d3, 'POST', '/v3/cashout', 412, { ...v3(create('ct-v3-a')), check: code(511), label: 'duplicate external_id' });
  await via(pv3, d3, 'POST', '/v3/cashout', 412, { ...v3(create('ct-v3-poor', { amount: '99999999.00' })), check: code(514), label: 'insufficient funds' });
  await via(pv3, d3, 'POST', '/v3/cashout', 412, { ...v3(create('ct-v3-cur', { currency: 'EUR' })), check: code(526), label: 'no wallet in currency' });
  await via(pv3, d3, 'POST', '/v3/cashout', 412, { ...v3(create('ct-v3-nocontact', { email: undefined })), check: code(540), label: 'no email or phone' });
  await via(pv3, d3, 'POST', '/v3/cashout', 401, { ...v3(create('ct-v3-x', { pass: 'wrong' })), check: code(401), label: 'bad pass' });
  await via(pv3, d3, 'POST', '/v3/cashout', 401, { ...v3(create('ct-v3-x'), { secret: 'not-the-key' }), check: code(302), label: 'bad signature' });
  await via(pv3, d3, 'POST', '/v3/cashout', 413, { ...v3(create('ct-v3-big', { padding: 'x'.repeat(70000) })), check: code(502), label: 'body over 64 KiB' });

  const A = ids['ct-v3-a'];
  await via(pv3, d3, 'POST', '/v3/cashout/status', 200, { ...v3({ ...cred, cashout_id: A }),
    check: (res) => (res.json?.cashout_status === 0 ? null : 'expected status 0') });
  await via(pv3, d3, 'POST', '/v3/cashout/status', 200, { ...v3({ ...cred, external_id: 'ct-v3-a' }), label: 'by external_id' });
  await via(pv3, d3, 'POST', '/v3/cashout/status', 412, { ...v3({ ...cred, cashout_id: '999999999' }), check: code(509), label: 'unknown' });
  await via(pv3, d3, 'POST', '/v3/cashout/status', 412, { ...v3({ ...cred, cashout_id: A, external_id: 'ct-v3-b' }), check: code(509), label: 'ids disagree' });
  await via(pv3, d3, 'POST', '/v3/cashout/status', 401, { ...v3({ ...cred, cashout_id: A }, { signature: '0'.repeat(64) }), check: code(302), label: 'bad signature' });

  await via(pv3, d3, 'PUT', '/v3/cashout/status', 200, { ...v3({ ...cred, cashout_id: A, status: 'ON_HOLD' }),
    check: (res) => (res.json?.cashout_status === 5 ? null : 'expected status 5') });
  await via(pv3, d3, 'PUT', '/v3/cashout/status', 200, { ...v3({ ...cred, cashout_id: A, status: 'PENDING' }),
    check: (res) => (res.json?.cashout_status === 0 ? null : 'expected status 0') });
  await via(pv3, d3, 'PUT', '/v3/cashout/status', 412, { ...v3({ ...cred, cashout_id: '999999999', status: 'ON_HOLD' }), check: code(509), label: 'unknown' });
  await via(pv3, d3, 'PUT', '/v3/cashout/status', 401, { ...v3({ ...cred, pass: 'nope', cashout_id: A, status: 'ON_HOLD' }), check: code(401), label: 'bad pass' });

  await via(pv3, d3, 'DELETE', '/v3/cashout/cancel', 200, { ...v3({ ...cred, cashout_id: A, external_id: 'ct-v3-a' }),
    check: (res) => (res.json?.cashout_status === 2 ? null : 'expected status 2') });
  await via(pv3, d3, 'DELETE', '/v3/cashout/cancel', 412, { ...v3({ ...cred, cashout_id: A, external_id: 'ct-v3-a' }), check: code(510), label: 'cancel of a cancelled cashout' });
  await via(pv3, d3, 'DELETE', '/v3/cashout/cancel', 412, { ...v3({ ...cred, cashout_id: ids['ct-v3-b'], external_id: 'ct-v3-a' }), check: code(509), label: 'external_id differs' });
  await via(pv3, d3, 'DELETE', '/v3/cashout/cancel', 401, { ...v3({ ...cred, cashout_id: A, external_id: 'ct-v3-a' }, { secret: 'x' }), check: code(302), label: 'bad signature' });
  await via(pv3, d3, 'PUT', '/v3/cashout/status', 400, { ...v3({ ...cred, cashout_id: A, status: 'PENDING' }), check: code(510), label: 'release of a cancelled cashout' });
  // Operator moves (the CLI on the same database) for the other statuses.
  move(ids['ct-v3-c'], 'completed', '--bank-reference', 'E2E-CT-1');
  await via(pv3, d3, 'POST', '/v3/cashout/status', 200, { ...v3({ ...cred, cashout_id: ids['ct-v3-c'] }), label: 'completed',
    check: (res) => (res.json?.cashout_status === 1 && res.json?.bank_reference_id === 'E2E-CT-1' ? null : 'expected 1 with bank_reference_id') });
  await via(pv3, d3, 'DELETE', '/v3/cashout/cancel', 412, { ...v3({ ...cred, cashout_id: ids['ct-v3-c'], external_id: 'ct-v3-c' }), check: code(510), label: 'cancel of a completed cashout' });
  await via(pv3, d3, 'PUT', '/v3/cashout/status', 400, { ...v3({ ...cred, cashout_id: ids['ct-v3-c'], status: 'ON_HOLD' }), check: code(510), label: 'hold of a completed cashout' });
  move(ids['ct-v3-d'], 'failed', '--reason-code', '800');
  await via(pv3, d3, 'POST', '/v3/cashout/status', 200, { ...v3({ ...cred, cashout_id: ids['ct-v3-d'] }), label: 'rejected',
    check: (res) => (res.json?.cashout_status === 3 && res.json?.rejection_code === 800 ? null : 'expected 3 / 800') });
  // 413: a valid body with a large unknown member (over 64 KiB).
  const pad = 'x'.repeat(70000);
  await via(pv3, d3, 'POST', '/v3/cashout/status', 413, { ...v3({ ...cred, cashout_id: A, padding: pad }), check: code(502), label: 'body over 64 KiB' });
  await via(pv3, d3, 'PUT', '/v3/cashout/status', 413, { ...v3({ ...cred, cashout_id: A, status: 'ON_HOLD', padding: pad }), check: code(502), label: 'body over 64 KiB' });
  await via(pv3, d3, 'DELETE', '/v3/cashout/cancel', 413, { ...v3({ ...cred, cashout_id: A, external_id: 'ct-v3-a', padding: pad }), check: code(502), label: 'body over 64 KiB' });
  // 429: a second payoutd on the same database with a 1-token bucket, on every v3 operation. The
  // answers before the bucket is empty are what the request asks for (a create is made, a cancel
  // of the cancelled A is refused, ...): any documented status, checked by Prism like the rest.
  {
    const limited = [
      ['POST', '/v3/cashout/status', (i) => v3({ ...cred, cashout_id: ids['ct-v3-b'] })],
      ['POST', '/v3/cashout', (i) => v3(create(`ct-v3-rl-${i}`))],
      ['PUT', '/v3/cashout/status', (i) => v3({ ...cred, cashout_id: ids['ct-v3-b'], status: 'PENDING' })],
      ['DELETE', '/v3/cashout/cancel', (i) => v3({ ...cred, cashout_id: A, external_id: 'ct-v3-a' })],
    ];
    for (const [method, urlPath, body] of limited) {
      let got429 = false;
      for (let i = 0; i < 5 && !got429; ++i) {
        const res = await request(pv3rl.url, method, urlPath, body(i));
        sent[d3] += 1;
        const violation = prismViolation(res);
        if (violation) { violations += 1; fail(`${d3} rate-limited ${method} ${urlPath}: ${violation}`); break; }
        if (res.status === 429) {
          got429 = true;
          if (res.json?.code !== 429 || !res.headers.get('retry-after')) fail(`${d3} ${method} ${urlPath}: 429 without code 429 / Retry-After: ${res.text}`);
          else templateOf(d3, method, urlPath).reached.add('429');
        } else if (res.status >= 500) fail(`${d3} rate-limited ${method} ${urlPath}: ${res.status} ${res.text}`);
        else templateOf(d3, method, urlPath).reached.add(String(res.status));
      }
      if (!got429) fail(`${d3} ${method} ${urlPath}: no 429 from the rate-limited payoutd in 5 requests`);
    }
  }

  // ================= Payouts v1 =================
  const d1 = 'payouts-v1';
  const login = await via(pv1, d1, 'POST', '/auth/login', 200, { body: V1,
    check: (res) => (res.headers.get('cache-control') === 'no-store' ? null : 'no Cache-Control: no-store') });
  const tok = login?.json ?? {};
  const auth = { Authorization: `Bearer ${tok.access_token}` };
  const offLogin = await request(UPSTREAM, 'POST', '/auth/login', { body: V1_OFF });   // before it is disabled
  if (offLogin.status !== 200) fail(`login of the second merchant: ${offLogin.status} ${offLogin.text}`);
  const offTok = offLogin.json ?? {};
  const offAuth = { Authorization: `Bearer ${offTok.access_token}` };
  cli('merchant', 'disable', '2');
  await via(pv1, d1, 'POST', '/auth/login', 401, { body: { ...V1, password: 'wrong-password' }, check: errName('unauthorized'), label: 'bad password' });
  await via(pv1, d1, 'POST', '/auth/login', 403, { body: V1_OFF, check: errName('forbidden', 'Account is disabled'), label: 'disabled merchant' });
  {
    let got = false;
    for (let i = 0; i < 12 && !got; ++i) {
      const res = await via(pv1, d1, 'POST', '/auth/login', i < 10 ? 401 : 429, { body: { username: 'ct-throttled', password: 'x' }, label: `throttle ${i + 1}` });
      if (res?.status === 429) got = true;
    }
  }
  await via(pv1, d1, 'POST', '/auth/login', 413, { body: { ...V1, padding: 'x'.repeat(70000) }, label: 'body over 64 KiB' });
  await via(pv1, d1, 'POST', '/auth/refresh', 413, { body: { refresh_token: 'x'.repeat(48), padding: 'x'.repeat(70000) }, label: 'body over 64 KiB' });
  const refreshed = await via(pv1, d1, 'POST', '/auth/refresh', 200, { body: { refresh_token: tok.refresh_token } });
  await via(pv1, d1, 'POST', '/auth/refresh', 401, { body: { refresh_token: 'x'.repeat(48) }, check: errName('unauthorized'), label: 'unknown token' });
  await via(pv1, d1, 'POST', '/auth/refresh', 403, { body: { refresh_token: offTok.refresh_token }, label: 'disabled merchant' });
  const auth2 = { Authorization: `Bearer ${refreshed?.json?.access_token}` };

  const bad = { Authorization: `Bearer ${'A'.repeat(48)}` };
  const payoutBody = (ref, extra = {}) => ({ reference_id: ref, wallet_id: 1, amount: '25.50', currency: 'BRL',
    beneficiary: { email: 'bea@example.com', first_name: 'Bea', last_name: 'Souza', country: 'BR' }, ...extra });
  const p1 = await via(pv1, d1, 'POST', '/api/v1/payouts', 201, { headers: auth2, body: payoutBody('ct-v1-1'),
    check: (res) => (res.json?.status === 'created' ? null : 'expected status created') });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 200, { headers: auth, body: payoutBody('ct-v1-1'), label: 'reference replay' });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 409, { headers: auth, body: payoutBody('ct-v1-1', { amount: '26.00' }), check: errName('Conflict'), label: 'reference reused' });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 201, { headers: { ...auth, 'Idempotency-Key': 'ct-idem-0001' }, body: payoutBody('ct-v1-2'), label: 'Idempotency-Key' });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 201, { headers: { ...auth, 'Idempotency-Key': 'ct-idem-0001' }, body: payoutBody('ct-v1-2'), label: 'Idempotency-Key replay',
    check: (res) => (res.headers.get('idempotency-replayed') === 'true' ? null : 'no Idempotency-Replayed: true') });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 409, { headers: { ...auth, 'Idempotency-Key': 'ct-idem-0001' }, body: payoutBody('ct-v1-3'), check: errName('Conflict'), label: 'Idempotency-Key reused' });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 404, { headers: auth, body: payoutBody('ct-v1-4', { wallet_id: 999 }), check: errName('NotFound', 'Wallet not found'), label: 'unknown wallet' });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 400, { headers: auth, body: payoutBody('ct-v1-5', { amount: '99999999.00' }), check: errName('BadRequest', 'insufficient wallet balance'), label: 'insufficient funds' });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 400, { headers: auth, body: payoutBody('ct-v1-6', { currency: 'USD' }), check: errName('BadRequest'), label: 'currency of another wallet' });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 401, { headers: bad, body: payoutBody('ct-v1-7'), check: errName('UnauthorizedAccess'), label: 'unknown token' });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 403, { headers: offAuth, body: payoutBody('ct-v1-8'), check: errName('Forbidden'), label: 'disabled merchant' });
  await via(pv1, d1, 'POST', '/api/v1/payouts', 413, { headers: auth, body: payoutBody('ct-v1-9', { description: 'x', padding: 'x'.repeat(70000) }), label: 'body over 64 KiB' });
  const pid = p1?.json?.id;
  const p2 = await via(pv1, d1, 'POST', '/api/v1/payouts', 201, { headers: auth, body: payoutBody('ct-v1-10') });
  const p3 = await via(pv1, d1, 'POST', '/api/v1/payouts', 201, { headers: auth, body: payoutBody('ct-v1-11') });

  await via(pv1, d1, 'GET', '/api/v1/payouts?limit=5&sort_order=desc', 200, { headers: auth });
  await via(pv1, d1, 'GET', '/api/v1/payouts?created_from=2026-02-01T00:00:00Z&created_to=2026-01-01T00:00:00Z', 400, { headers: auth, check: errName('BadRequest'), label: 'created_from after created_to' });
  await via(pv1, d1, 'GET', '/api/v1/payouts', 401, { headers: bad, label: 'unknown token' });
  await via(pv1, d1, 'GET', '/api/v1/payouts', 403, { headers: offAuth, label: 'disabled merchant' });
  await via(pv1, d1, 'GET', `/api/v1/payouts/${pid}`, 200, { headers: auth });
  await via(pv1, d1, 'GET', '/api/v1/payouts/pyt_doesnotexist0000', 404, { headers: auth, check: errName('NotFound') });
  await via(pv1, d1, 'GET', '/api/v1/payouts/%20', 400, { headers: auth, label: 'blank id' });
  await via(pv1, d1, 'GET', `/api/v1/payouts/${pid}`, 401, { headers: bad });
  await via(pv1, d1, 'GET', `/api/v1/payouts/${pid}`, 403, { headers: offAuth });

  await via(pv1, d1, 'POST', `/api/v1/payouts/${pid}/cancel`, 200, { headers: auth,
    check: (res) => (res.json?.status === 'cancelled' ? null : 'expected cancelled') });
  await via(pv1, d1, 'POST', `/api/v1/payouts/${pid}/cancel`, 400, { headers: auth, check: errName('BadRequest', 'payout cannot be cancelled in current status'), label: 'second cancel' });
  const pc = p2?.json?.id;
  move(pc, 'completed');
  await via(pv1, d1, 'POST', `/api/v1/payouts/${pc}/cancel`, 400, { headers: auth, check: errName('BadRequest', 'payout has already been completed'), label: 'completed' });
  await via(pv1, d1, 'POST', '/api/v1/payouts/pyt_doesnotexist0000/cancel', 404, { headers: auth, check: errName('NotFound', 'Payout not found') });
  await via(pv1, d1, 'POST', '/api/v1/payouts/%20/cancel', 400, { headers: auth, check: errName('BadRequest', 'Payout ID is required'), label: 'blank id' });
  await via(pv1, d1, 'POST', `/api/v1/payouts/${pid}/cancel`, 401, { headers: bad });
  await via(pv1, d1, 'POST', `/api/v1/payouts/${pid}/cancel`, 403, { headers: offAuth });

  await via(pv1, d1, 'POST', '/api/v1/payouts/cancel', 200, { headers: auth, body: { ids: [p3?.json?.id, 'pyt_doesnotexist0000'] },
    check: (res) => (res.json?.cancelled?.length === 1 && res.json?.failed?.length === 1 ? null : 'expected 1 cancelled, 1 failed') });
  await via(pv1, d1, 'POST', '/api/v1/payouts/cancel', 200, { headers: auth, body: { status: 'queued' }, label: 'by status' });
  await via(pv1, d1, 'POST', '/api/v1/payouts/cancel', 413, { headers: auth, body: { ids: [pid], padding: 'x'.repeat(70000) }, label: 'body over 64 KiB' });
  await via(pv1, d1, 'POST', '/api/v1/payouts/cancel', 401, { headers: bad, body: { ids: [pid] } });
  await via(pv1, d1, 'POST', '/api/v1/payouts/cancel', 403, { headers: offAuth, body: { ids: [pid] } });

  await via(pv1, d1, 'GET', '/api/v1/wallets', 200, { headers: auth });
  await via(pv1, d1, 'GET', '/api/v1/wallets', 401, { headers: bad });
  await via(pv1, d1, 'GET', '/api/v1/wallets', 403, { headers: offAuth });
  await via(pv1, d1, 'GET', '/api/v1/wallets/1', 200, { headers: auth });
  await via(pv1, d1, 'GET', '/api/v1/wallets/999', 404, { headers: auth, check: errName('NotFound', 'Wallet not found') });
  await via(pv1, d1, 'GET', '/api/v1/wallets/1', 401, { headers: bad });
  await via(pv1, d1, 'GET', '/api/v1/wallets/1', 403, { headers: offAuth });
  await via(pv1, d1, 'GET', '/api/v1/wallets/1/transactions?limit=3', 200, { headers: auth });
  await via(pv1, d1, 'GET', '/api/v1/wallets/999/transactions', 404, { headers: auth, check: errName('NotFound') });
  await via(pv1, d1, 'GET', '/api/v1/wallets/1/transactions?reference_id=a&reference=b', 400, { headers: auth, label: 'reference_id and reference differ' });
  await via(pv1, d1, 'GET', '/api/v1/wallets/1/transactions', 401, { headers: bad });
  await via(pv1, d1, 'GET', '/api/v1/wallets/1/transactions', 403, { headers: offAuth });
  await via(pv1, d1, 'GET', '/api/v1/transactions?type=PAYOUT_REFUND', 200, { headers: auth });
  await via(pv1, d1, 'GET', '/api/v1/transactions?wallet_id=999', 404, { headers: auth, check: errName('NotFound') });
  await via(pv1, d1, 'GET', '/api/v1/transactions?reference_id=a&reference=b', 400, { headers: auth, label: 'reference_id and reference differ' });
  await via(pv1, d1, 'GET', '/api/v1/transactions', 401, { headers: bad });
  await via(pv1, d1, 'GET', '/api/v1/transactions', 403, { headers: offAuth });

  const wh = await via(pv1, d1, 'POST', '/api/v1/webhooks', 201, { headers: auth, body: { url: 'https://example.com/payoutd-hook' } });
  await via(pv1, d1, 'POST', '/api/v1/webhooks', 413, { headers: auth, body: { url: 'https://example.com/h', padding: 'x'.repeat(70000) }, label: 'body over 64 KiB' });
  await via(pv1, d1, 'POST', '/api/v1/webhooks', 401, { headers: bad, body: { url: 'https://example.com/h' } });
  await via(pv1, d1, 'POST', '/api/v1/webhooks', 403, { headers: offAuth, body: { url: 'https://example.com/h' } });
  await via(pv1, d1, 'GET', '/api/v1/webhooks', 200, { headers: auth });
  await via(pv1, d1, 'GET', '/api/v1/webhooks', 401, { headers: bad });
  await via(pv1, d1, 'GET', '/api/v1/webhooks', 403, { headers: offAuth });
  const whId = wh?.json?.id;
  // An event for the endpoint: a payout created after the registration.
  const p12 = await via(pv1, d1, 'POST', '/api/v1/payouts', 201, { headers: auth, body: payoutBody('ct-v1-12') });
  const del = await via(pv1, d1, 'GET', `/api/v1/webhooks/${whId}/deliveries`, 200, { headers: auth });
  await via(pv1, d1, 'GET', '/api/v1/webhooks/999999/deliveries', 404, { headers: auth, check: errName('NotFound') });
  await via(pv1, d1, 'GET', `/api/v1/webhooks/${whId}/deliveries`, 401, { headers: bad });
  await via(pv1, d1, 'GET', `/api/v1/webhooks/${whId}/deliveries`, 403, { headers: offAuth });
  // Event ids are derived (docs/notifications.md): evt_ + the payout id's 16 characters + _ + seq.
  const eventId = `evt_${String(p12?.json?.id).replace(/^pyt_/, '')}_1`;
  await via(pv1, d1, 'POST', `/api/v1/webhooks/events/${eventId}/redeliver`, 202, { headers: auth, label: 'the creation event' });
  await via(pv1, d1, 'POST', '/api/v1/webhooks/events/evt_doesnotexist000000/redeliver', 404, { headers: auth, check: errName('NotFound') });
  await via(pv1, d1, 'POST', '/api/v1/webhooks/events/evt_x/redeliver', 401, { headers: bad });
  await via(pv1, d1, 'POST', '/api/v1/webhooks/events/evt_x/redeliver', 403, { headers: offAuth });
  await via(pv1, d1, 'DELETE', `/api/v1/webhooks/${whId}`, 200, { headers: auth });
  await via(pv1, d1, 'DELETE', `/api/v1/webhooks/${whId}`, 404, { headers: auth, check: errName('NotFound'), label: 'deleted' });
  await via(pv1, d1, 'DELETE', `/api/v1/webhooks/${whId}`, 401, { headers: bad });
  await via(pv1, d1, 'DELETE', `/api/v1/webhooks/${whId}`, 403, { headers: offAuth });

  // ================= Operations =================
  const dO = 'operations';
  await via(pops, dO, 'GET', '/status', 200);
  await via(pops, dO, 'GET', '/ready', 200);
  await via(pops, dO, 'GET', '/metrics', 200);
  for (const d of DOCS) await via(pops, dO, 'GET', `/openapi/${d}.json`, 200);
  await via(pops, dO, 'GET', '/openapi/nope.json', 404);
  const cb = (payoutId) => {
    const text = JSON.stringify({ payout_id: payoutId });
    return { body: text, headers: { 'Content-Type': 'application/json',
      'Sandbox-Signature': crypto.createHmac('sha256', CALLBACK_SECRET).update(text).digest('hex') } };
  };
  // 204 needs a payout the sandbox connector was handed (a running engine): not reached here.
  await via(pops, dO, 'POST', '/connectors/sandbox/callback', 404, { ...cb(pid), check: errName('NotFound', 'Payout not found'), label: 'payout no connector has' });
  await via(pops, dO, 'POST', '/connectors/sandbox/callback', 401, { body: JSON.stringify({ payout_id: pid }),
    headers: { 'Content-Type': 'application/json', 'Sandbox-Signature': '0'.repeat(64) }, label: 'bad signature' });

  // Logout last: it revokes every token of the merchant.
  await via(pv1, d1, 'POST', '/auth/logout', 401, { headers: bad });
  await via(pv1, d1, 'POST', '/auth/logout', 403, { headers: offAuth });
  await via(pv1, d1, 'POST', '/auth/logout', 200, { headers: auth });

  // ================= Every operation called =================
  for (const c of Object.values(coverage)) {
    if (c.reached.size === 0) fail(`${c.doc} ${c.op.method} ${c.op.path} (${c.op.operationId}) was never called successfully`);
    for (const s of c.reached) if (!c.op.statuses.includes(s)) fail(`${c.doc} ${c.op.operationId}: status ${s} is not documented`);
  }

  // ================= Served documents =================
  for (const d of DOCS) {
    const res = await request(UPSTREAM, 'GET', `/openapi/${d}.json`);
    const want = yaml.load(fs.readFileSync(docFile(d), 'utf8'));
    const wantCore = yaml.load(fs.readFileSync(docFile(d), 'utf8'), { schema: yaml.CORE_SCHEMA });
    if (res.status !== 200 || !res.json) fail(`served ${d}.json: ${res.status}`);
    else if (!util.isDeepStrictEqual(res.json, JSON.parse(JSON.stringify(want)))) {
      fail(`served ${d}.json differs from js-yaml's load of docs/openapi/${d}.yaml` +
        (util.isDeepStrictEqual(res.json, wantCore) ? ' (equal under the YAML 1.2 core schema)' : ''));
    } else console.log(`contract-test: served /openapi/${d}.json == docs/openapi/${d}.yaml`);
  }

  // ================= Seeds =================
  for (const [i, s] of seedDocs.entries()) {
    const proxy = pseeds[i];
    const ext = i === 0 ? 'ct-v3-seed0' : 'ct-v3-seed1';
    const body = { ...cred, cashout_id: Number(ids[ext]), external_id: ext };
    const what = `seed ${s.name} DELETE /cashout/cancel`;
    for (const [expected, c] of [[200, null], [412, 510]]) {
      const res = await request(proxy.url, 'DELETE', '/cashout/cancel', v3(body));
      const violation = prismViolation(res);
      if (violation) { violations += 1; fail(`${what}: ${violation}`); continue; }
      if (res.status !== expected || (c && res.json?.code !== c)) fail(`${what}: expected ${expected}, got ${res.status} ${res.text}`);
      else console.log(`contract-test: ${what} → ${res.status} (no violation)`);
    }
  }

  // ================= Bad input =================
  const badInput = [
    { d: d3, proxy: pv3, name: 'v3 create without external_id', method: 'POST', path: '/v3/cashout',
      req: v3(create(undefined)), direct: [412, code(300)] },
    { d: d3, proxy: pv3, name: 'v3 create with on_hold a string', method: 'POST', path: '/v3/cashout',
      req: v3(create('ct-bad-1', { on_hold: 'yes' })), direct: [412, code(300)] },
    { d: d3, proxy: pv3, name: 'v3 create with external_id over 100', method: 'POST', path: '/v3/cashout',
      req: v3(create('x'.repeat(101))), direct: [412, code(300)] },
    { d: d3, proxy: pv3, name: 'v3 hold with status PAUSED', method: 'PUT', path: '/v3/cashout/status',
      req: v3({ ...cred, cashout_id: ids['ct-v3-b'], status: 'PAUSED' }), direct: [412, code(300)] },
    { d: d3, proxy: pv3, name: 'v3 status without Payload-Signature', method: 'POST', path: '/v3/cashout/status',
      req: { body: JSON.stringify({ ...cred, cashout_id: ids['ct-v3-b'] }), headers: { 'Content-Type': 'application/json' } }, direct: [401, code(302)] },
    { d: d1, proxy: pv1, name: 'v1 create without amount', method: 'POST', path: '/api/v1/payouts',
      req: { headers: auth, body: payoutBody('ct-bad-2', { amount: undefined }) }, direct: [400, errName('BadRequest', 'Validation failed')] },
    { d: d1, proxy: pv1, name: 'v1 create with wallet_id a string', method: 'POST', path: '/api/v1/payouts',
      req: { headers: auth, body: payoutBody('ct-bad-3', { wallet_id: 'one' }) }, direct: [400, errName('BadRequest', 'Validation failed')] },
    { d: d1, proxy: pv1, name: 'v1 create with reference_id over 100', method: 'POST', path: '/api/v1/payouts',
      req: { headers: auth, body: payoutBody('r'.repeat(101)) }, direct: [400, errName('BadRequest', 'Validation failed')] },
    { d: d1, proxy: pv1, name: 'v1 bulk cancel with status bogus', method: 'POST', path: '/api/v1/payouts/cancel',
      req: { headers: auth, body: { status: 'bogus' } }, direct: [400, errName('BadRequest')] },
    { d: d1, proxy: pv1, name: 'v1 login with an empty username', method: 'POST', path: '/auth/login',
      req: { body: { username: '', password: 'x' } }, direct: [400, errName('validation_error')] },
    { d: d1, proxy: pv1, name: 'v1 list with currency given twice', method: 'GET', path: '/api/v1/payouts?currency=BRL&currency=USD',
      req: { headers: auth }, direct: [400, errName('BadRequest', 'Invalid query parameters')] },
    { d: d1, proxy: pv1, name: 'v1 bulk cancel with ids and status', method: 'POST', path: '/api/v1/payouts/cancel',
      req: { headers: auth, body: { ids: ['pyt_x'], status: 'created' } }, direct: [400, errName('BadRequest')] },
    { d: d1, proxy: pv1, name: 'v1 webhook with an unknown event', method: 'POST', path: '/api/v1/webhooks',
      req: { headers: auth, body: { url: 'https://example.com/h', events: ['no.such.event'] } }, direct: [400, errName('BadRequest')] },
    { d: 'operations', proxy: pops, name: 'callback of an unknown connector', method: 'POST', path: '/connectors/nope/callback',
      req: { body: { payout_id: 'pyt_x' }, headers: { 'Sandbox-Signature': '0'.repeat(64) } }, direct: [404, errName('NotFound', 'no such connector')] },
    { d: 'operations', proxy: pops, name: 'callback with an empty payout_id', method: 'POST', path: '/connectors/sandbox/callback',
      req: cb(''), direct: [400, errName('BadRequest', 'payout_id must be a payout id')] },
    { d: d1, proxy: pv1, name: 'v1 list without Authorization', method: 'GET', path: '/api/v1/payouts',
      req: {}, direct: [401, errName('UnauthorizedAccess', 'Authentication required')] },
  ];
  // A fresh session: logout above revoked the merchant's tokens.
  const relog = await request(UPSTREAM, 'POST', '/auth/login', { body: V1 });
  auth.Authorization = `Bearer ${relog.json?.access_token}`;
  const badRows = [];
  for (const b of badInput) {
    const viaPrism = await request(b.proxy.url, b.method, b.path, b.req);
    sent[b.d] += 1;
    const refused = viaPrism.status >= 400 && viaPrism.status < 500 && prismViolation(viaPrism);
    if (!refused) fail(`bad input "${b.name}": Prism did not refuse it (${viaPrism.status} ${viaPrism.text.slice(0, 200)})`);
    const direct = await request(UPSTREAM, b.method, b.path, b.req);
    const problem = direct.status !== b.direct[0] ? `status ${direct.status}` : b.direct[1](direct);
    if (problem) fail(`bad input "${b.name}" direct to payoutd: expected ${b.direct[0]}: ${problem} ${direct.text.slice(0, 200)}`);
    badRows.push([b.name, String(viaPrism.status), `${direct.status} ${direct.json?.code ?? direct.json?.error ?? ''}`]);
  }

  // ================= Deliberate mismatch =================
  {
    const res = await request(pbroken.url, 'GET', `/api/v1/payouts/${pid}`, { headers: auth });
    const violation = prismViolation(res);
    if (!violation) fail('the deliberately broken payouts-v1 (PayoutSummary.status renamed to state) was not detected: the contract test cannot fail');
    else console.log(`contract-test: mismatch self-check detected (${res.status})`);
  }

  // ================= With the engine: v1 cancel of a processing payout, rail callbacks =========
  {
    const d1 = 'payouts-v1';
    const login = await request(UPSTREAM_ENGINE, 'POST', '/auth/login', { body: V1_ENGINE });
    const eauth = { Authorization: `Bearer ${login.json?.access_token}` };
    // Account ...903 (docs/engine.md): stays processing at the rail; a cancel is answered later.
    const created = await via(pv1e, d1, 'POST', '/api/v1/payouts', 201, { headers: eauth, label: 'engine: account 903',
      body: { reference_id: 'ct-engine-903', wallet_id: 1, amount: '10.00', currency: 'USD',
        beneficiary: { email: 'bea@example.com', first_name: 'Bea', last_name: 'Souza', country: 'US' },
        beneficiary_identifiers: { account_number: '5550903', bank_code: '021' } } });
    const eid = created?.json?.id;
    // The engine submits it: polled directly (not a contract exchange), bounded.
    let status = '';
    await waitFor(async () => {
      if (!eid) return true;
      const got = await request(UPSTREAM_ENGINE, 'GET', `/api/v1/payouts/${eid}`, { headers: eauth });
      status = got.json?.status ?? '';
      return status === 'processing';
    }, 30000);
    if (status !== 'processing') fail(`engine: payout ${eid} never reached processing (last: ${status})`);
    // Signed callback of the sandbox rail for it: 204 (the engine asks the rail at once).
    const cbBody = JSON.stringify({ payout_id: eid });
    const cbSig = crypto.createHmac('sha256', CALLBACK_SECRET).update(cbBody).digest('hex');
    await via(popse, 'operations', 'POST', '/connectors/sandbox/callback', 204, { label: 'engine: signed callback',
      headers: { 'Content-Type': 'application/json', 'sandbox-signature': cbSig }, body: cbBody });
    // The cancel is requested of the rail, which answers later: 202, and the same 202 again.
    for (const label of ['engine: cancel of processing', 'engine: cancel asked again']) {
      await via(pv1e, d1, 'POST', `/api/v1/payouts/${eid}/cancel`, 202, { headers: eauth, label,
        check: (res) => (res.json?.status === 'processing' ? null : `expected status processing, got ${res.text.slice(0, 200)}`) });
    }
  }

  // ================= Storage unavailable (last: it locks the main database) =================
  {
    // What the writes will be tried on, made before the lock: a v1 payout for each cancel path,
    // a v3 cashout to hold and cancel, a webhook endpoint to delete, a session to refresh and end.
    const d1 = 'payouts-v1';
    const v1L = await via(pv1, d1, 'POST', '/api/v1/payouts', 201, { headers: auth, body: payoutBody('ct-locked-v1a'), label: 'before the lock' });
    const v1M = await via(pv1, d1, 'POST', '/api/v1/payouts', 201, { headers: auth, body: payoutBody('ct-locked-v1b'), label: 'before the lock' });
    const v3L = await via(pv3, d3, 'POST', '/v3/cashout', 200, { ...v3(create('ct-locked-v3')), label: 'before the lock' });
    const whL = await via(pv1, d1, 'POST', '/api/v1/webhooks', 201, { headers: auth, body: { url: 'https://example.com/payoutd-locked' }, label: 'before the lock' });
    const session = await via(pv1, d1, 'POST', '/auth/login', 200, { body: V1, label: 'before the lock' });
    // The slow server's writes may still commit once the lock is gone (a handler timeout's outcome
    // is unknown): they get objects of their own, which the no-trace checks below leave alone.
    const v1S = await via(pv1, d1, 'POST', '/api/v1/payouts', 201, { headers: auth, body: payoutBody('ct-locked-v1s'), label: 'before the lock' });
    const v3S = await via(pv3, d3, 'POST', '/v3/cashout', 200, { ...v3(create('ct-locked-v3s')), label: 'before the lock' });
    const sid = v1S?.json?.id;
    const scid = v3S?.json?.cashout_id;
    const sAuth = { Authorization: `Bearer ${session?.json?.access_token}` };
    const lid = v1L?.json?.id;
    const mid = v1M?.json?.id;
    const cid = v3L?.json?.cashout_id;
    const wid = whL?.json?.id;
    if (!lid || !mid || !cid || !wid || !sid || !scid || !session?.json?.refresh_token) fail('could not set up the storage-unavailable case');

    // Another process holds the SQLite write lock longer than payoutd's busy timeout (5 s). Reads
    // still answer (WAL): only the writes fail, each with its endpoint's documented answer.
    const dbFile = env('PAYOUTD_DB').replace(/^sqlite:\/\//, '');
    const locker = spawn('sqlite3', [dbFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    let lockOut = '';
    locker.stdout.on('data', (b) => { lockOut += b; });
    locker.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'locked';\n");
    await waitFor(() => lockOut.includes('locked'), 10000, 10);
    if (!lockOut.includes('locked')) fail('could not take the database lock for the 503 case');
    const retryAfter = (res) => (res.headers.get('retry-after') ? null : 'no Retry-After');
    const unavailable = (res) => retryAfter(res) ?? errName('ServiceUnavailable')(res);
    const label = 'database locked';
    await Promise.all([
      via(pv1, d1, 'POST', '/api/v1/payouts', 503, { headers: auth, body: payoutBody('ct-locked-1'), label, check: unavailable }),
      via(pv3, d3, 'POST', '/v3/cashout', 500, { ...v3(create('ct-locked-2')), label, check: code(703) }),
      via(pv3, d3, 'DELETE', '/v3/cashout/cancel', 500, { ...v3({ ...cred, cashout_id: cid, external_id: 'ct-locked-v3' }), label, check: code(702) }),
      via(pv3, d3, 'PUT', '/v3/cashout/status', 500, { ...v3({ ...cred, cashout_id: cid, status: 'ON_HOLD' }), label, check: code(500) }),
      via(pv1, d1, 'POST', '/auth/login', 503, { body: V1, label, check: unavailable }),
      via(pv1, d1, 'POST', '/auth/refresh', 503, { body: { refresh_token: session?.json?.refresh_token }, label, check: unavailable }),
      via(pv1, d1, 'POST', '/auth/logout', 503, { headers: sAuth, label, check: unavailable }),
      via(pv1, d1, 'POST', `/api/v1/payouts/${lid}/cancel`, 503, { headers: auth, label, check: unavailable }),
      // The bulk answers 200 with the item's own failure (each item is its own write).
      via(pv1, d1, 'POST', '/api/v1/payouts/cancel', 200, { headers: auth, body: { ids: [mid] }, label,
        check: (res) => (res.json?.cancelled?.length === 0 && res.json?.failed?.[0]?.error === 'ServiceUnavailable'
          ? null : `expected the item to fail with ServiceUnavailable, got ${res.text.slice(0, 200)}`) }),
      via(pv1, d1, 'POST', '/api/v1/webhooks', 503, { headers: auth, body: { url: 'https://example.com/payoutd-locked-2' }, label, check: unavailable }),
      via(pv1, d1, 'DELETE', `/api/v1/webhooks/${wid}`, 503, { headers: auth, label, check: unavailable }),
      via(pv1, d1, 'POST', `/api/v1/webhooks/events/${eventId}/redeliver`, 503, { headers: auth, label, check: unavailable }),
      // The handler timeout (1 s) answers before the busy timeout (5 s): v3 503 / 503, v1 503
      // `Service unavailable` without Retry-After (the outcome is unknown, not refused).
      ...[['POST', '/v3/cashout', v3(create('ct-locked-slow'))],
        ['PUT', '/v3/cashout/status', v3({ ...cred, cashout_id: scid, status: 'ON_HOLD' })],
        ['DELETE', '/v3/cashout/cancel', v3({ ...cred, cashout_id: scid, external_id: 'ct-locked-v3s' })],
      ].map(([method, urlPath, req]) => via(pv3s, d3, method, urlPath, 503, { ...req, label: 'handler timeout', check: code(503) })),
      ...[['POST', '/api/v1/payouts', { headers: auth, body: payoutBody('ct-locked-slow') }],
        ['POST', `/api/v1/payouts/${sid}/cancel`, { headers: auth }],
      ].map(([method, urlPath, req]) => via(pv1s, d1, method, urlPath, 503, { ...req, label: 'handler timeout',
        check: (res) => (res.headers.get('retry-after') ? 'a handler timeout with Retry-After' : errName('ServiceUnavailable', 'Service unavailable')(res)) })),
    ]);
    locker.stdin.end('ROLLBACK;\n.quit\n');
    await new Promise((r) => locker.on('close', r));

    // Nothing of it left a trace: the payouts, the cashout, the endpoint and the session are as
    // they were, and neither refused create exists.
    const after = 'after the lock';
    for (const id of [lid, mid]) {
      await via(pv1, d1, 'GET', `/api/v1/payouts/${id}`, 200, { headers: auth, label: after,
        check: (res) => (res.json?.status === v1L?.json?.status ? null : `expected ${v1L?.json?.status}, got ${res.text.slice(0, 200)}`) });
    }
    await via(pv3, d3, 'POST', '/v3/cashout/status', 200, { ...v3({ ...cred, cashout_id: cid }), label: after,
      check: (res) => (res.json?.cashout_status === 0 ? null : `expected it still pending (0), got ${res.text.slice(0, 200)}`) });
    await via(pv3, d3, 'POST', '/v3/cashout/status', 412, { ...v3({ ...cred, external_id: 'ct-locked-2' }), label: 'the refused create', check: code(509) });
    await via(pv1, d1, 'GET', '/api/v1/payouts?reference_id=ct-locked-1', 200, { headers: auth, label: 'the refused create',
      check: (res) => (Array.isArray(res.json) && res.json.length === 0 ? null : `expected no payout, got ${res.text.slice(0, 200)}`) });
    await via(pv1, d1, 'GET', '/api/v1/webhooks', 200, { headers: auth, label: after,
      check: (res) => {
        const urls = (Array.isArray(res.json) ? res.json : []).map((e) => e.url);
        if (!urls.includes('https://example.com/payoutd-locked')) return 'the endpoint whose delete failed is gone';
        if (urls.includes('https://example.com/payoutd-locked-2')) return 'the endpoint whose create failed exists';
        return null;
      } });
    await via(pv1, d1, 'POST', '/auth/refresh', 200, { body: { refresh_token: session?.json?.refresh_token }, label: 'the session outlived its failed logout' });
  }

  // ================= Every route the server registers is a documented operation =========
  {
    // The engine server logged its route table at debug level (src/cli/server.cc): every route,
    // the connector callback included.
    const routes = [];
    for (const line of fs.readFileSync(path.join(TMP, 'payoutd-engine.log'), 'utf8').split('\n')) {
      let entry;
      try { entry = JSON.parse(line); } catch { continue; }
      const m = /^route (\S+) (\S+) \((\S+)\)$/.exec(entry?.msg ?? entry?.message ?? '');
      if (m) routes.push({ method: m[1].toLowerCase(), path: m[2].replace(/:([A-Za-z_]+)/g, '{$1}'), name: m[3] });
    }
    if (routes.length < 20) fail(`only ${routes.length} routes found in the engine server's log`);
    const documented = new Set(Object.values(coverage).map((c) => `${c.op.method.toLowerCase()} ${c.op.path}`));
    const undocumented = routes.filter((r) => !documented.has(`${r.method} ${r.path}`));
    for (const r of undocumented) fail(`route ${r.method.toUpperCase()} ${r.path} (${r.name}) is in no document`);
    const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
    for (const c of Object.values(coverage)) {
      if (!served.has(`${c.op.method.toLowerCase()} ${c.op.path}`)) fail(`${c.doc} ${c.op.method.toUpperCase()} ${c.op.path} is documented but not routed`);
    }
    console.log(`contract-test: ${routes.length} routes, each a documented operation, and each operation routed`);
  }

  // ================= Report =================
  console.log('\ncoverage (operation: documented statuses → reached):');
  for (const d of DOCS) {
    const rows = Object.values(coverage).filter((c) => c.doc === d);
    const reached = rows.reduce((n, c) => n + c.reached.size, 0);
    const documented = rows.reduce((n, c) => n + c.op.statuses.length, 0);
    console.log(`  ${d}: ${rows.filter((c) => c.reached.size).length}/${rows.length} operations, ${reached}/${documented} statuses`);
    for (const c of rows) {
      console.log(`    ${(c.op.operationId ?? '').padEnd(24)} ${c.op.method.padEnd(6)} ${c.op.path.padEnd(42)} ${c.op.statuses.join(',').padEnd(36)} → ${[...c.reached].sort().join(',')}`);
    }
  }
  console.log('\nbad input (Prism status | payoutd direct):');
  for (const r of badRows) console.log(`    ${r[0].padEnd(40)} ${r[1].padEnd(4)} | ${r[2]}`);
  console.log(`\nrequests sent: ${DOCS.map((d) => `${d} ${sent[d]}`).join(', ')}; seeds ${seedDocs.length * 2}; violations ${violations}`);
} catch (error) {
  fail(`unexpected: ${error.stack || error}`);
} finally {
  killChildren();
}
console.log(`contract-test: ${failures.length === 0 ? 'ok' : `${failures.length} failure(s)`} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failures.length === 0 ? 0 : 1);
