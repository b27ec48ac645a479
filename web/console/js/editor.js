// The rule editor: id, segment, event filter and the CEL condition, checked
// against the server's compiler as the author types, with the fields and
// functions of the rule language listed beside it.
import { h, $, debounce, clone } from './dom.js';
import { state, changed } from './state.js';
import { rulesApi } from './api.js';
import { tryPanel } from './tryit.js';

let seq = 0; // orders validation answers: only the latest one is shown

export function renderEditor() {
  const panel = $('#editor');
  const sel = state.selectedRule;
  $('#editor-empty').hidden = sel !== null;
  panel.hidden = sel === null;
  if (sel === null) return;
  const isNew = sel === 'new';
  const orig = isNew ? null : state.draft.rules[sel];
  const r = orig ? clone(orig) : { id: '', segment: state.draft.segments[0]?.id || '', events: [], when: '' };

  // The draft as it would be with this rule applied: what validate and test see.
  const candidate = () => {
    const d = clone(state.draft);
    const rule = { ...r };
    if (!rule.events?.length) delete rule.events;
    if (!rule.description) delete rule.description;
    if (isNew) d.rules.push(rule); else d.rules[sel] = rule;
    return d;
  };

  const status = h('div.cel-status#cel-status', { 'aria-live': 'polite' });
  const errorBox = h('div.cel-error#cel-error', { hidden: true, role: 'alert' });
  const when = h('textarea.code#rule-when', {
    spellcheck: 'false', 'aria-label': 'condition (CEL)',
    placeholder: 'e.g. event.name == "user-watched-ad" && user.stats.daily.ads_watched >= 3',
    value: r.when,
    oninput: (e) => { r.when = e.target.value; check(); },
  });

  const check = debounce(async () => {
    const my = ++seq;
    status.textContent = 'Checking…';
    status.className = 'cel-status';
    try {
      const res = await rulesApi.validate(candidate());
      if (my !== seq) return;
      const mine = res.problems.filter((p) => p.rule === r.id || (!p.rule && !p.segment && !p.partner));
      const others = res.problems.length - mine.length;
      if (!mine.length) {
        when.className = 'code valid';
        errorBox.hidden = true;
        status.textContent = others ? `✓ This rule compiles (${others} problem${others > 1 ? 's' : ''} elsewhere in the draft)` : '✓ Compiles';
        status.className = 'cel-status ok';
        return;
      }
      when.className = 'code invalid';
      status.textContent = '';
      errorBox.replaceChildren(...mine.map((p) => problemView(p, r.when)));
      errorBox.hidden = false;
    } catch (err) {
      if (my === seq) { status.textContent = `Could not check: ${err.message}`; }
    }
  }, 300);

  const segSelect = h('select#rule-segment', { 'aria-label': 'segment', onchange: (e) => { r.segment = e.target.value; check(); } },
    ...state.draft.segments.map((s) => h('option', { value: s.id, selected: s.id === r.segment }, s.id + (s.name ? ` — ${s.name}` : ''))));

  const apply = () => {
    const d = candidate();
    state.draft = d;
    state.selectedRule = isNew ? d.rules.length - 1 : sel;
    changed(true);
  };
  const remove = () => {
    state.draft.rules.splice(sel, 1);
    state.selectedRule = null;
    changed(true);
  };

  panel.replaceChildren(
    h('div.panel-head', h('h2', isNew ? 'New rule' : `Rule ${orig.id}`),
      h('span.muted', 'Changes stay in your draft until you publish.')),
    h('div.editor-grid',
      h('div',
        h('div.form-row', h('label', { for: 'rule-id' }, 'Id'),
          h('input#rule-id', { value: r.id, placeholder: 'e.g. watches-many-ads', oninput: (e) => { r.id = e.target.value.trim(); check(); } })),
        h('div.form-row', h('label', { for: 'rule-segment' }, 'Segment'), segSelect),
        h('div.form-row', h('label', { for: 'rule-events' }, 'Only events'),
          h('input#rule-events', {
            value: (r.events || []).join(', '), placeholder: 'optional, e.g. user-watched-ad, user-skipped-ad',
            oninput: (e) => { r.events = e.target.value.split(',').map((x) => x.trim()).filter(Boolean); check(); },
          })),
        h('div.form-row', h('label', { for: 'rule-desc' }, 'Description'),
          h('input#rule-desc', { value: r.description || '', oninput: (e) => { r.description = e.target.value; } })),
        h('label', { for: 'rule-when' }, h('h3', 'Condition')),
        when, status, errorBox,
        h('div.actions',
          h('button.btn.primary#apply-rule', { onclick: apply }, isNew ? 'Add to draft' : 'Apply to draft'),
          h('button.btn.ghost', { onclick: () => { state.selectedRule = null; changed(true); } }, 'Close'),
          isNew ? null : h('button.btn.danger', { onclick: remove }, 'Delete rule')),
        tryPanel(candidate, r)),
      fieldList(when, check)));
  if (r.when || isNew) check();
}

// problemView shows one compile problem with a caret under its position.
function problemView(p, expr) {
  const where = p.line ? `line ${p.line}, column ${p.column}: ` : '';
  const parts = [h('div.msg', h('strong', where), p.message)];
  if (p.line) {
    const line = (expr.split('\n')[p.line - 1] || '');
    parts.push(h('pre', line, '\n', h('span.caret', ' '.repeat(Math.max(0, p.column - 1)) + '^')));
  }
  return h('div.problem', { dataset: { line: p.line || 0, column: p.column || 0 } }, parts);
}

// fieldList lists what an expression may use; a click inserts it at the caret.
function fieldList(textarea, onInsert) {
  const s = state.schema || { event: [], traits: [], stats: [], other: [], functions: [] };
  const filter = h('input', { type: 'search', placeholder: 'Filter fields…', 'aria-label': 'filter fields' });
  const insert = (text) => {
    const { selectionStart: a, selectionEnd: b, value } = textarea;
    textarea.value = value.slice(0, a) + text + value.slice(b);
    textarea.focus();
    textarea.selectionStart = textarea.selectionEnd = a + text.length;
    textarea.dispatchEvent(new Event('input'));
    onInsert();
  };
  const group = (title, fields) => [
    h('h3', title),
    ...fields.map((f) => h('div.field', { dataset: { path: f.path }, title: f.doc || `insert ${f.path}`, onclick: () => insert(f.path) },
      h('span', f.path), h('span.type', f.type))),
  ];
  const list = h('div#field-list',
    group('event', s.event), group('user.traits', s.traits?.length ? s.traits : []),
    group('user.stats', s.stats), group('other', s.other),
    h('h3', 'functions'),
    ...s.functions.map((f) => h('div.fn', { title: f.doc, onclick: () => insert(f.name === '?:' ? ' ? : ' : f.name + '(') },
      h('code', f.signature), f.doc ? h('span', f.doc) : null)));
  filter.addEventListener('input', () => {
    const q = filter.value.toLowerCase();
    list.querySelectorAll('.field, .fn').forEach((el) => { el.hidden = q && !el.textContent.toLowerCase().includes(q); });
  });
  return h('div.fields', h('h3', 'Available fields'), filter, list);
}
