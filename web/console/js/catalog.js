// The left column: segment hierarchy (groups, merge policy, ttl), the rule
// list with search, and the small form that adds or edits a segment.
import { h, $ } from './dom.js';
import { state, changed } from './state.js';

const matches = (q, ...texts) => !q || texts.some((t) => (t || '').toLowerCase().includes(q));

export function renderCatalog() {
  const q = state.search.trim().toLowerCase();
  const segs = state.draft.segments;
  const byParent = new Map();
  for (const s of segs) {
    const p = segs.some((x) => x.id === s.parent) ? s.parent : '';
    if (!byParent.has(p)) byParent.set(p, []);
    byParent.get(p).push(s);
  }
  const ruleCount = (id) => state.draft.rules.filter((r) => r.segment === id).length;
  // A segment is shown when it or a descendant matches the search.
  const visible = (s) => matches(q, s.id, s.name, s.group, s.description) || (byParent.get(s.id) || []).some(visible);
  const node = (s) => {
    if (!visible(s)) return null;
    const kids = (byParent.get(s.id) || []).map(node).filter(Boolean);
    const merge = s.merge || (s.group ? 'overwrite' : 'append');
    return h('li', { dataset: { segment: s.id } },
      h('div.seg', { title: s.description || '', onclick: () => openSegmentForm(s) },
        h('span.id', s.id),
        s.name ? h('span.muted', s.name) : null,
        s.group ? h('span.tag.group', { title: 'exclusive group: at most one of its segments per profile' }, `group ${s.group}`) : null,
        h(`span.tag.${merge}`, { title: merge === 'overwrite' ? 'replaces others in its group' : 'accumulates' }, merge),
        s.ttl ? h('span.tag.ttl', { title: 'drops out this long after the last match' }, `ttl ${s.ttl}`) : null,
        h('span.tag', { title: 'rules assigning it' }, `${ruleCount(s.id)} rule${ruleCount(s.id) === 1 ? '' : 's'}`)),
      kids.length ? h('ul', kids) : null);
  };
  $('#segment-tree').replaceChildren(...(byParent.get('') || []).map(node).filter(Boolean));

  const base = new Map((state.base?.ruleset.rules || []).map((r) => [r.id, JSON.stringify(r)]));
  const items = state.draft.rules.map((r, i) => ({ r, i }))
    .filter(({ r }) => matches(q, r.id, r.segment, r.when, r.description, (r.events || []).join(' ')));
  $('#rule-count').textContent = `${items.length}/${state.draft.rules.length}`;
  $('#rule-list').replaceChildren(...items.map(({ r, i }) => h('li.rule-item', {
    class: ['rule-item', state.selectedRule === i ? 'selected' : '', base.get(r.id) !== JSON.stringify(r) ? 'changed' : ''].join(' '),
    dataset: { rule: r.id },
    onclick: () => { state.selectedRule = i; changed(); },
  },
  h('div.head', h('strong', r.id), h('span.muted', '→'), h('span.tag', r.segment),
    ...(r.events || []).map((e) => h('span.tag', e))),
  h('div.when', r.when))));
}

export function openSegmentForm(seg) {
  const slot = $('#segment-form-slot');
  const isNew = !seg;
  const s = seg ? { ...seg } : { id: '', name: '', parent: '', group: '', merge: '', ttl: '' };
  const input = (key, placeholder) => h('input', { value: s[key] || '', placeholder, 'aria-label': key, oninput: (e) => { s[key] = e.target.value.trim(); } });
  const parents = state.draft.segments.filter((x) => x.id !== s.id);
  const close = () => slot.replaceChildren();
  const save = () => {
    if (!s.id) return;
    const clean = Object.fromEntries(Object.entries(s).filter(([, v]) => v !== '' && v !== undefined));
    const segs = state.draft.segments;
    const at = segs.findIndex((x) => x.id === (seg?.id ?? s.id));
    if (at >= 0) {
      if (seg && seg.id !== s.id) state.draft.rules.forEach((r) => { if (r.segment === seg.id) r.segment = s.id; });
      segs[at] = clean;
    } else segs.push(clean);
    close();
    changed();
  };
  const remove = () => {
    state.draft.segments = state.draft.segments.filter((x) => x.id !== seg.id);
    close();
    changed();
  };
  slot.replaceChildren(h('div.segment-form',
    h('div.form-row', h('label', 'Id'), input('id', 'e.g. big-spender')),
    h('div.form-row', h('label', 'Name'), input('name', 'display name')),
    h('div.form-row', h('label', 'Parent'), h('select', { 'aria-label': 'parent', onchange: (e) => { s.parent = e.target.value; } },
      h('option', { value: '' }, '(none)'),
      ...parents.map((p) => h('option', { value: p.id, selected: p.id === s.parent }, p.id)))),
    h('div.form-row', h('label', 'Group'), input('group', 'exclusive group (optional)')),
    h('div.form-row', h('label', 'Merge'), h('select', { 'aria-label': 'merge', onchange: (e) => { s.merge = e.target.value; } },
      ...[['', 'default'], ['append', 'append (accumulate)'], ['overwrite', 'overwrite (replace in group)']]
        .map(([v, t]) => h('option', { value: v, selected: (s.merge || '') === v }, t)))),
    h('div.form-row', h('label', 'TTL'), input('ttl', 'e.g. 30d or 720h (optional)')),
    h('div.actions',
      h('button.btn.primary', { onclick: save }, isNew ? 'Add segment' : 'Apply'),
      h('button.btn.ghost', { onclick: close }, 'Cancel'),
      isNew ? null : h('button.btn.danger', { onclick: remove }, 'Delete'))));
}
