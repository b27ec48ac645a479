// Version history: who published what and when, a diff between any two
// versions, and rollback (which publishes a copy of an old version).
import { h, $, when } from './dom.js';
import { state } from './state.js';
import { rulesApi } from './api.js';
import { diffLines, fold, toYAML } from './diff.js';

const cache = new Map();
let entries = [];
let pick = { a: null, b: null };

async function doc(n) {
  if (!cache.has(n)) cache.set(n, rulesApi.version(n).then((v) => toYAML(v.ruleset).replace(/^\n/, '')));
  return cache.get(n);
}

export async function renderHistory(onRolledBack, notify) {
  const res = await rulesApi.history();
  entries = res.versions;
  const cur = res.current_version;
  if (!entries.some((e) => e.version === pick.b)) pick = { a: entries[1]?.version ?? null, b: entries[0]?.version ?? null };
  const radio = (side, v) => h('input', {
    type: 'radio', name: `diff-${side}`, checked: pick[side] === v, 'aria-label': `compare ${side} v${v}`,
    onchange: () => { pick[side] = v; showDiff(); },
  });
  $('#history-body').replaceChildren(...entries.map((e) => {
    const confirmBtn = h('button.btn.small.danger', { hidden: true, dataset: { confirm: e.version } }, `Confirm rollback to v${e.version}`);
    const rb = h('button.btn.small', { dataset: { rollback: e.version } }, 'Roll back to this');
    rb.onclick = () => { rb.hidden = true; confirmBtn.hidden = false; };
    confirmBtn.onclick = async () => {
      confirmBtn.disabled = true;
      try {
        const v = await rulesApi.rollback(e.version, cur, `rollback to version ${e.version}`);
        notify(`Rolled back: version ${v.version} is a copy of version ${e.version} and is live now.`, 'ok');
        await onRolledBack(v);
      } catch (err) {
        notify(err.status === 409 ? `Someone published version ${err.body.current_version} meanwhile; the history is reloaded.` : err.message, 'error');
        await renderHistory(onRolledBack, notify);
      }
    };
    const canRollback = e.version !== cur && ['publisher'].includes(state.me?.role);
    return h('tr', { class: e.version === cur ? 'current' : '', dataset: { version: e.version } },
      h('td', radio('a', e.version)), h('td', radio('b', e.version)),
      h('td', h('strong', `v${e.version}`), e.version === cur ? h('span.tag.added', ' live') : null),
      h('td', e.action === 'rollback' ? `rollback of v${e.rollback_of}` : e.action),
      h('td', e.author), h('td', when(e.at)), h('td', e.message || h('span.muted', '—')),
      h('td.muted', `${e.segments} segments, ${e.rules} rules`),
      h('td', canRollback ? [rb, confirmBtn] : null));
  }));
  await showDiff();
}

async function showDiff() {
  const { a, b } = pick;
  const out = $('#diff');
  if (!b) { out.replaceChildren('No versions yet.'); return; }
  $('#diff-title').textContent = a ? `Changes from v${a} to v${b}` : `Version ${b}`;
  const [ta, tb] = await Promise.all([a ? doc(a) : '', doc(b)]);
  const lines = fold(diffLines(ta, tb));
  const changes = lines.filter((l) => l.op === '+' || l.op === '-').length;
  out.replaceChildren(...(changes || !a ? lines : [{ op: '…', text: 'no differences' }]).map((l) => {
    const cls = { '+': 'add', '-': 'del', ' ': 'ctx', '…': 'gap' }[l.op];
    return h(`span.${cls}`, l.op === '…' ? `  ⋯ ${l.text}` : `${l.op} ${l.text}`);
  }));
}
