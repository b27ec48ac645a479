// The rules API client: every call carries the token kept in localStorage.
const KEY = 'segmentflow.token';

export const token = {
  get: () => localStorage.getItem(KEY) || '',
  set: (t) => (t ? localStorage.setItem(KEY, t) : localStorage.removeItem(KEY)),
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const t = token.get();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const rulesApi = {
  whoami: () => api('GET', '/v1/whoami'),
  current: () => api('GET', '/v1/rulesets/current'),
  version: (n) => api('GET', `/v1/rulesets/${n}`),
  history: () => api('GET', '/v1/rulesets'),
  schema: () => api('GET', '/v1/schema'),
  validate: (ruleset) => api('POST', '/v1/rulesets:validate', { ruleset }),
  test: (req) => api('POST', '/v1/rulesets:test', req),
  publish: (ruleset, expected, message) =>
    api('PUT', '/v1/rulesets/current', { ruleset, expected_version: expected, message }),
  rollback: (n, expected, message) => api('POST', `/v1/rulesets/${n}:rollback`, { expected_version: expected, message }),
};
