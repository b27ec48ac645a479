// Console entry point: sign-in, loading the current version, tabs, the
// draft bar (publish / discard) and re-rendering on every change.
import { h, $ } from './dom.js';
import { rulesApi, token } from './api.js';
import { state, onChange, loadBase, dirty, summary, changed, can } from './state.js';
import { renderCatalog, openSegmentForm } from './catalog.js';
import { renderEditor } from './editor.js';
import { renderHistory } from './history.js';

let lastSelection;

const SIGN_IN_HINT = 'Enter an API token to sign in (in `segmentflow local` it is "dev").';

function notify(msg, kind = '') {
  const n = $('#notice');
  n.className = `notice ${kind}`;
  n.replaceChildren(...(Array.isArray(msg) ? msg : [msg]));
  n.hidden = !msg;
}

onChange((rerender) => {
  renderCatalog();
  if (rerender || state.selectedRule !== lastSelection) {
    lastSelection = state.selectedRule;
    renderEditor();
  }
  $('#draft-bar').hidden = !dirty();
  $('#draft-summary').textContent = dirty() ? `· ${summary()} · based on v${state.base?.version ?? 0}` : '';
  $('#publish-btn').disabled = !can('publisher');
  $('#publish-btn').title = can('publisher') ? '' : 'your role may not publish';
  $('#version-badge').textContent = state.base?.version ? `live: v${state.base.version}` : 'nothing published';
});

async function loadCurrent() {
  try {
    loadBase(await rulesApi.current());
  } catch (err) {
    if (err.status === 404) loadBase(null); else throw err;
  }
}

async function signIn() {
  if (!token.get()) {
    // Nothing to ask the API without a token: say what to do instead of
    // sending a request that can only be refused.
    state.me = null;
    $('#whoami').textContent = '';
    notify(SIGN_IN_HINT, 'error');
    return;
  }
  try {
    state.me = await rulesApi.whoami();
    $('#whoami').textContent = `${state.me.name} · ${state.me.role}`;
    state.schema = await rulesApi.schema();
    await loadCurrent();
    notify('');
  } catch (err) {
    state.me = null;
    $('#whoami').textContent = '';
    notify(err.status === 401 ? SIGN_IN_HINT : `Could not load: ${err.message}`, 'error');
  }
}

async function publish() {
  const btn = $('#publish-btn');
  btn.disabled = true;
  try {
    const v = await rulesApi.publish(state.draft, state.base.version, $('#publish-message').value);
    $('#publish-message').value = '';
    const keep = state.selectedRule;
    loadBase(v);
    state.selectedRule = typeof keep === 'number' && keep < state.draft.rules.length ? keep : null;
    changed(true);
    notify(`Published version ${v.version}. Running pipelines pick it up within seconds.`, 'ok');
  } catch (err) {
    if (err.status === 409) {
      const rebase = h('button.btn.small', {
        onclick: async () => {
          const draft = state.draft;
          await loadCurrent();
          state.draft = draft;
          changed(true);
          notify(`Your draft now replaces version ${state.base.version} when you publish; check the history diff first.`);
        },
      }, `Keep my draft on top of v${err.body.current_version}`);
      notify([`Version ${err.body.current_version} was published by someone else since you loaded v${state.base.version}. `, rebase], 'error');
    } else if (err.status === 422) {
      notify([h('strong', 'Not published: the draft does not compile. '),
        ...err.body.problems.map((p) => h('div', `${p.rule ? `rule ${p.rule}` : p.segment ? `segment ${p.segment}` : p.partner ? `partner ${p.partner}` : 'rule set'}${p.line ? ` at ${p.line}:${p.column}` : ''}: ${p.message}`))], 'error');
    } else notify(err.message, 'error');
  } finally {
    btn.disabled = !can('publisher');
  }
}

async function afterRollback() {
  await loadCurrent();
  await renderHistory(afterRollback, notify);
}

function showTab(name) {
  document.querySelectorAll('.tab').forEach((t) => t.classList.toggle('active', t.dataset.tab === name));
  $('#view-catalog').hidden = name !== 'catalog';
  $('#view-history').hidden = name !== 'history';
  if (name === 'history') {
    renderHistory(afterRollback, notify).catch((err) => notify(err.message, 'error'));
  }
}

function init() {
  $('#token-input').value = token.get();
  $('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token.set($('#token-input').value.trim());
    signIn();
  });
  document.querySelectorAll('.tab').forEach((t) => t.addEventListener('click', () => showTab(t.dataset.tab)));
  $('#search').addEventListener('input', (e) => { state.search = e.target.value; renderCatalog(); });
  $('#new-rule-btn').addEventListener('click', () => { state.selectedRule = 'new'; changed(true); });
  $('#new-segment-btn').addEventListener('click', () => openSegmentForm(null));
  $('#publish-btn').addEventListener('click', publish);
  $('#discard-btn').addEventListener('click', () => { loadBase({ version: state.base.version, ruleset: state.base.ruleset }); notify(''); });
  signIn();
}

init();
