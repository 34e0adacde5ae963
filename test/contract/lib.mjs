// Shared helpers of the contract test (scripts/contract-test.sh): documents, free ports, Prism
// proxies as child processes, HTTP requests with a deadline.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

export function loadYaml(file) {
  return yaml.load(fs.readFileSync(file, 'utf8'));
}

// Every operation of a document: [{method, path, operationId, statuses}].
export function operationsOf(doc) {
  const resolve = (node) => {
    while (node && node.$ref) node = node.$ref.split('/').slice(1).reduce((a, k) => a[k], doc);
    return node;
  };
  const ops = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      ops.push({ method: m.toUpperCase(), path: p, operationId: item[m].operationId,
        statuses: Object.keys(resolve(item[m].responses)) });
    }
  }
  return ops;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const children = [];
const pidFile = process.env.CONTRACT_PID_FILE;

export function killChildren() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try { process.kill(-c.pid, 'SIGKILL'); } catch { try { c.kill('SIGKILL'); } catch { /* gone */ } }
    }
  }
}
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killChildren(); process.exit(130); });
}

// Starts `prism proxy <doc> <upstream> --errors` on a free port and waits (deadline) until it
// says it listens. Returns {url, name, log()}.
// Waits until `condition()` (sync or async) is true or `deadlineMs` passed, checking it every
// `pollMs`; the condition's last value. The one poll loop of the contract test: it waits for a
// condition with a deadline, never for time to pass.
export async function waitFor(condition, deadlineMs, pollMs = 20) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return Boolean(await condition());
}

export async function startPrism(name, docFile, upstream, logDir, { deadlineMs = 45000 } = {}) {
  const port = await freePort();
  const logFile = path.join(logDir, `prism-${name}.log`);
  const out = fs.openSync(logFile, 'w');
  const bin = path.join(repoRoot, 'node_modules', '.bin', 'prism');
  const child = spawn(bin, ['proxy', docFile, upstream, '--errors', '--port', String(port),
    '--host', '127.0.0.1'], { stdio: ['ignore', out, out], detached: true });
  children.push(child);
  if (pidFile) fs.appendFileSync(pidFile, `${child.pid}\n`);
  const log = () => fs.readFileSync(logFile, 'utf8');
  const listening = await waitFor(() => /Prism is listening on/.test(log()) || child.exitCode !== null,
    deadlineMs, 100);
  if (child.exitCode !== null) throw new Error(`prism ${name} exited (${child.exitCode}):\n${log()}`);
  if (!listening) throw new Error(`prism ${name} did not listen within ${deadlineMs} ms:\n${log()}`);
  return { name, url: `http://127.0.0.1:${port}`, log, child };
}

// One HTTP request; body: string (sent as is) or object (JSON.stringify). Returns
// {status, headers, text, json}.
export async function request(base, method, urlPath, { headers = {}, body, timeoutMs = 15000 } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!Object.keys(init.headers).some((h) => h.toLowerCase() === 'content-type')) {
      init.headers['Content-Type'] = 'application/json';
    }
  }
  const res = await fetch(base + urlPath, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

// Did Prism object to this exchange? (--errors answers a violation itself with an
// application/problem+json body of type https://stoplight.io/prism/errors#…; sl-violations
// lists what it saw otherwise.)
export function prismViolation(res) {
  const v = res.headers.get('sl-violations');
  if (v) return `sl-violations: ${v}`;
  const ct = res.headers.get('content-type') || '';
  if (/problem\+json/.test(ct) || (res.json && typeof res.json.type === 'string' &&
      res.json.type.includes('stoplight.io/prism/errors'))) {
    return `prism error: ${res.text.slice(0, 600)}`;
  }
  return null;
}

// Prism compiles each schema with Ajv when it first validates against it, and a schema that does
// not compile is silently not validated (prism-http validators/utils.js: O.tryCatch around the
// compile). This compiles every request and response body schema of a document the way Prism
// does (its own OpenAPI → JSON Schema conversion, allOf merge, Ajv options) and returns the ones
// that fail: any of them would make the contract test blind for that exchange.
export async function prismUncompilableSchemas(docFile) {
  const { createRequire } = await import('node:module');
  const base = path.join(repoRoot, 'node_modules', '@stoplight', 'prism-http', 'dist', 'index.js');
  const req = createRequire(base);
  const { getHttpOperationsFromSpec } = req(base);
  const Ajv = req('ajv').default;
  const addFormats = req('ajv-formats').default;
  const mergeAllOf = req('@stoplight/json-schema-merge-allof');
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, allowMatchingProperties: true,
    strict: false, coerceTypes: false, logger: false });
  addFormats(ajv);
  const ops = await getHttpOperationsFromSpec(docFile);
  const bad = [];
  const tryCompile = (where, schema, bundle) => {
    if (!schema) return;
    let s = schema;
    try { s = mergeAllOf(schema, { deep: true, ignoreAdditionalProperties: true }); } catch { /* as Prism */ }
    try { ajv.compile({ ...s, __bundled__: bundle }); } catch (error) { bad.push(`${where}: ${error.message.slice(0, 300)}`); }
  };
  for (const op of ops) {
    const name = `${op.method.toUpperCase()} ${op.path}`;
    for (const c of op.request?.body?.contents ?? []) tryCompile(`${name} request ${c.mediaType}`, c.schema, op.__bundled__);
    for (const r of op.responses ?? []) {
      for (const c of r.contents ?? []) tryCompile(`${name} ${r.code} ${c.mediaType}`, c.schema, op.__bundled__);
    }
  }
  return bad;
}
