// The console's one piece of state: the published version it was loaded
// from (base) and the working copy the author edits (draft).
import { clone } from './dom.js';

const listeners = new Set();

export const state = {
  me: null,        // {name, role}
  base: null,      // {version, ruleset}
  draft: { segments: [], rules: [], partners: [] },
  schema: null,
  selectedRule: null, // index into draft.rules, or 'new'
  search: '',
};

export function onChange(fn) { listeners.add(fn); }
export function changed(rerenderEditor = false) { listeners.forEach((fn) => fn(rerenderEditor)); }

export function loadBase(v) {
  state.base = v ? { version: v.version, ruleset: normalize(v.ruleset) } : { version: 0, ruleset: normalize({}) };
  state.draft = clone(state.base.ruleset);
  state.selectedRule = null;
  changed();
}

export function normalize(rs) {
  return { segments: rs.segments || [], rules: rs.rules || [], ...(rs.partners?.length ? { partners: rs.partners } : {}) };
}

export const dirty = () => JSON.stringify(state.draft) !== JSON.stringify(state.base?.ruleset);

export const can = (role) => {
  const order = ['none', 'viewer', 'editor', 'publisher'];
  return order.indexOf(state.me?.role || 'none') >= order.indexOf(role);
};

// summary says what the draft changes, for the draft bar.
export function summary() {
  const b = state.base?.ruleset || { segments: [], rules: [] };
  const d = state.draft;
  const parts = [];
  for (const [kind, key] of [['rule', 'rules'], ['segment', 'segments']]) {
    const before = new Map(b[key].map((x) => [x.id, JSON.stringify(x)]));
    const after = new Map(d[key].map((x) => [x.id, JSON.stringify(x)]));
    const added = [...after.keys()].filter((k) => !before.has(k)).length;
    const removed = [...before.keys()].filter((k) => !after.has(k)).length;
    const edited = [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k)).length;
    if (added) parts.push(`${added} ${kind}${added > 1 ? 's' : ''} added`);
    if (edited) parts.push(`${edited} ${kind}${edited > 1 ? 's' : ''} edited`);
    if (removed) parts.push(`${removed} ${kind}${removed > 1 ? 's' : ''} removed`);
  }
  return parts.join(', ') || 'reordered';
}
