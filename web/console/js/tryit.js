// The dry run: a sample event and user against the draft, showing which
// rules matched and how the profile would change, before anything is published.
import { h } from './dom.js';
import { state } from './state.js';
import { rulesApi } from './api.js';

// sampleEvent is a track event the rule's event filter lets through.
function sampleEvent(rule) {
  const eventName = rule.events?.[0] || state.schema?.events?.find((e) => e.startsWith('user-')) || 'user-opened-app';
  return JSON.stringify({ type: 'track', event: eventName, userId: 'u-sample', properties: {}, timestamp: new Date().toISOString() }, null, 2);
}

export function tryPanel(candidate, rule) {
  // The sample event follows the rule's event filter as long as the author
  // has not edited it: a filter typed after the panel was drawn would
  // otherwise skip the rule on its own sample.
  let generated = sampleEvent(rule);
  const sampleUser = state.schema?.sample_user || { traits: {}, stats: { daily: { ads_watched: 0, cards_played: 0 } } };
  const ev = h('textarea.code#try-event', { spellcheck: 'false', 'aria-label': 'sample event', value: generated });
  const user = h('textarea.code#try-user', { spellcheck: 'false', 'aria-label': 'sample user', value: JSON.stringify(sampleUser, null, 2) });
  const before = h('input#try-segments', { placeholder: 'segments before, e.g. casual, ad-watcher', 'aria-label': 'segments before' });
  const out = h('div#try-result');

  const run = async () => {
    if (ev.value === generated) ev.value = generated = sampleEvent(rule);
    let body;
    try {
      body = {
        ruleset: candidate(),
        event: JSON.parse(ev.value),
        user: JSON.parse(user.value),
        segments: before.value.split(',').map((x) => x.trim()).filter(Boolean),
      };
    } catch (err) {
      out.replaceChildren(h('div.result.cel-error', `Sample is not valid JSON: ${err.message}`));
      return;
    }
    out.replaceChildren(h('div.result.muted', 'Running…'));
    try {
      out.replaceChildren(result(await rulesApi.test(body), rule.id));
    } catch (err) {
      const probs = err.body?.problems?.map((p) => `${p.rule || p.segment || ''} ${p.message}`).join('; ');
      out.replaceChildren(h('div.result.cel-error', err.message + (probs ? `: ${probs}` : '')));
    }
  };

  return h('div.tryit',
    h('div.panel-head', h('h2', 'Try it'), h('button.btn#try-run', { onclick: run }, '▶ Run on sample')),
    h('div.tryit-grid', h('div', h('h3', 'Event'), ev), h('div', h('h3', 'User (traits and stats)'), user)),
    h('div.form-row', h('label', 'In segments'), before),
    out);
}

function result(res, ruleId) {
  const shown = res.rules.filter((r) => r.matched || r.id === ruleId);
  return h('div.result', { dataset: { matched: res.matched } },
    h('div', h('strong', `${res.matched} rule${res.matched === 1 ? '' : 's'} matched`),
      h('span.muted', ` · ${res.evaluated} evaluated for “${res.event_name}”`),
      res.errors ? h('span.no', ` · ${res.errors} failed at run time (e.g. a missing trait)`) : null),
    h('table', h('thead', h('tr', h('th', 'Rule'), h('th', 'Segment'), h('th', 'Result'))),
      h('tbody', shown.map((r) => h('tr', { dataset: { rule: r.id } },
        h('td', r.id === ruleId ? h('strong', r.id) : r.id), h('td', r.segment),
        h('td', r.matched ? h('span.yes', 'matched') : h('span.no', r.filtered ? 'skipped: event not in its filter' : 'no match')))))),
    h('h3', 'Profile change'),
    h('div#try-change',
      res.added.length || res.removed.length ? null : h('span.muted', 'no change'),
      ...res.added.map((s) => h('span.tag.added', `+ ${s}`)), ' ',
      ...res.removed.map((s) => h('span.tag.removed', `− ${s}`))),
    h('h3', 'Segments after'),
    h('div', res.after.length ? res.after.map((s) => h('span.tag', s.id)) : h('span.muted', 'none')),
    Object.keys(res.partner_changes || {}).length ? [h('h3', 'Sent to partners'),
      h('div', Object.entries(res.partner_changes).map(([p, c]) => h('div', h('strong', p), ': ',
        c.added.map((s) => h('span.tag.added', `+ ${s}`)), c.removed.map((s) => h('span.tag.removed', `− ${s}`)))))] : null);
}
