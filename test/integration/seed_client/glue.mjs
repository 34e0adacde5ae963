// The glue the seed's client code leaves undefined, written on top of the documented v1
// endpoints (shared/spec/payouts-v1.md). Nothing here changes what the seed functions do:
//  - the seed calls fetch() with relative URLs (`/api/v1/...`), as code running in a browser on
//    the API's origin would; Node's fetch needs absolute URLs, so relative ones get the base URL;
//  - getAccessToken() returns the token of one POST /auth/login;
//  - getPayout, listPayouts, getWalletTransactions, cancelPayout call the documented endpoints
//    and throw an Error whose message is "<error name>: <message>" of the v1 error body;
//  - showConfirmDialog / showNotification (the confirmation flow's UI) confirm and record.
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

export async function installGlue(baseUrl, username, password, options = {}) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) =>
    realFetch(typeof input === 'string' && input.startsWith('/') ? baseUrl + input : input, init);

  const login = await realFetch(`${baseUrl}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!login.ok) throw new Error(`login failed: HTTP ${login.status} ${await login.text()}`);
  const tokens = await login.json();
  let accessToken = options.accessTokenOverride ?? tokens.access_token;

  const failure = async (response) => {
    let body = {};
    try { body = await response.json(); } catch { body = {}; }
    return new Error(`${body.error ?? `HTTP ${response.status}`}: ${body.message ?? 'request failed'}`);
  };
  const get = async (path, params) => {
    const query = params ? `?${new URLSearchParams(
      Object.entries(params).filter(([, v]) => v !== undefined && v !== null))}` : '';
    const response = await fetch(`${path}${query}`, {
      headers: { 'Authorization': `Bearer ${getAccessToken()}` },
    });
    if (!response.ok) throw await failure(response);
    return response.json();
  };

  globalThis.getAccessToken = () => accessToken;
  globalThis.setAccessToken = (token) => { accessToken = token; };
  globalThis.getPayout = (payoutId) => get(`/api/v1/payouts/${payoutId}`);
  globalThis.listPayouts = (filters) => get('/api/v1/payouts', filters);
  globalThis.getWalletTransactions = (filters) => get('/api/v1/transactions', filters);
  globalThis.cancelPayout = async (payoutId) => {
    const response = await fetch(`/api/v1/payouts/${payoutId}/cancel`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${getAccessToken()}` },
    });
    if (!response.ok) throw await failure(response);
    return response.json();
  };
  globalThis.confirmDialogs = [];
  globalThis.notifications = [];
  globalThis.showConfirmDialog = async (dialog) => { confirmDialogs.push(dialog); return true; };
  globalThis.showNotification = (notification) => { notifications.push(notification); };
  return tokens;
}

// Runs the seed's functions file as a classic script in this realm, so its function
// declarations become globals that see the glue above, exactly as in a browser page.
export function loadSeedFunctions(path) {
  vm.runInThisContext(readFileSync(path, 'utf8'), { filename: path });
}
