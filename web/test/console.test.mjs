// The rules console in headless Chromium against the real rules server:
// bin/segmentflow `rules` on a GCS emulator process (fake-gcs-server), with
// the game rule set published as version 1. The marketer's path: sign in,
// create a rule with a type error and see it inline, fix it, try it on a
// sample, publish, read the history diff, roll back.
//
// SEGMENTFLOW_BIN and GCS_EMULATOR_BIN name prebuilt binaries (make test-web
// builds them); without them the test builds both with `go build`.
// CHROMIUM overrides /usr/bin/chromium. Screenshots go to screenshots/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const shots = join(here, 'screenshots');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const TOKEN = 'dev';
// Waits bound how long a broken page is waited for; CI is a loaded 2-core box.
const WAIT = 30_000;

const haveChromium = existsSync(executablePath);
if (!haveChromium) {
  console.log(`SKIP console browser test: no Chromium at ${executablePath} (apt-get install -y chromium, or set CHROMIUM)`);
}

// start runs a process and resolves with the first stdout match of re.
function start(cmd, args, re, procs) {
  return new Promise((ok, fail) => {
    const p = spawn(cmd, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`${cmd}: no ${re} within ${WAIT} ms\n${out}\n${err}`)), WAIT);
    p.stdout.on('data', (b) => {
      out += b;
      const m = out.match(re);
      if (m) { clearTimeout(timer); ok(m); }
    });
    p.stderr.on('data', (b) => { err += b; });
    p.on('exit', (code) => { clearTimeout(timer); fail(new Error(`${cmd} exited ${code}\n${out}\n${err}`)); });
  });
}

function binaries() {
  if (process.env.SEGMENTFLOW_BIN && process.env.GCS_EMULATOR_BIN) {
    return { segmentflow: process.env.SEGMENTFLOW_BIN, emulator: process.env.GCS_EMULATOR_BIN };
  }
  const dir = mkdtempSync(join(tmpdir(), 'segmentflow-web-'));
  const build = (out, pkg) => execFileSync('go', ['build', '-o', out, pkg], { cwd: repo, stdio: 'inherit' });
  build(join(dir, 'segmentflow'), './cmd/segmentflow');
  build(join(dir, 'gcs-emulator'), './web/test/gcsemulator');
  return { segmentflow: join(dir, 'segmentflow'), emulator: join(dir, 'gcs-emulator') };
}

describe('rules console in Chromium', { skip: !haveChromium && `no Chromium at ${executablePath}` }, () => {
  const procs = [];
  const pageErrors = [];
  let base;
  let browser;
  let page;

  const api = async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  };
  // seen waits until an element matching sel shows text.
  const seen = (sel, text) => page.locator(sel).filter({ hasText: text }).first().waitFor({ timeout: WAIT });

  before(async () => {
    mkdirSync(shots, { recursive: true });
    const bin = binaries();
    const [, gcs] = await start(bin.emulator, [], /gcs emulator on (\S+)/, procs);
    [, base] = await start(bin.segmentflow, ['rules', '--addr', '127.0.0.1:0', '--gcs-endpoint', gcs, '--create-bucket',
      '--token', `${TOKEN}=publisher:marketer`, '--sample-users', 'testdata/users/sample.json'], /console on (http:\/\/\S+?)\/? /, procs);
    const game = readFileSync(join(repo, 'testdata/rulesets/game.yaml'), 'utf8');
    const v1 = await api('PUT', '/v1/rulesets/current', { ruleset: game, expected_version: 0, message: 'game rule set' });
    assert.equal(v1.version, 1);

    // Chromium's sandbox needs user namespaces that CI containers (root) lack.
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
  });

  after(async () => {
    await browser?.close();
    for (const p of procs) p.kill('SIGTERM');
  });

  it('loads and signs in', async () => {
    await page.goto(base + '/');
    await seen('#notice', 'Enter an API token');
    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type=submit]');
    await seen('#whoami', 'marketer · publisher');
    await seen('#version-badge', 'live: v1');
    // The hierarchy: whale is listed under engaged, with its ttl.
    await seen('#segment-tree li[data-segment="engaged"] li[data-segment="whale"]', 'ttl 30d');
    await page.fill('#search', 'skips');
    await page.locator('#rule-list li[data-rule="skips-fast"]').waitFor({ timeout: WAIT });
    assert.equal(await page.locator('#rule-list li[data-rule="watches-ads"]').count(), 0, 'search keeps only matching rules');
    await page.fill('#search', '');
  });

  it('shows a type error inline, then accepts the fix', async () => {
    await page.click('#new-rule-btn');
    await seen('#editor h2', 'New rule');
    await page.fill('#rule-id', 'binge-watcher');
    await page.selectOption('#rule-segment', 'ad-watcher');
    await page.fill('#rule-events', 'user-watched-ad');
    // A number compared with a string: CEL's type check refuses it.
    await page.fill('#rule-when', 'user.stats.daily.ads_watched >= "five"');
    await page.locator('#cel-error').waitFor({ state: 'visible', timeout: WAIT });
    const problem = page.locator('#cel-error .problem').first();
    assert.match(await problem.textContent(), /line 1, column \d+/);
    assert.match(await problem.textContent(), /overload|type/i);
    assert.match(await page.locator('#rule-when').getAttribute('class'), /invalid/);
    await page.screenshot({ path: join(shots, '1-type-error.png'), fullPage: true });

    await page.fill('#rule-when', 'user.stats.daily.ads_watched >= 5');
    await seen('#cel-status', 'Compiles');
    assert.equal(await page.locator('#cel-error').isVisible(), false);
    assert.match(await page.locator('#rule-when').getAttribute('class'), /valid/);
  });

  it('tries the rule on a sample event and user', async () => {
    // The generated sample follows the event filter typed after the panel
    // was drawn, so the rule is evaluated, not skipped by its own filter.
    await page.click('#try-run');
    await seen('#try-result', 'evaluated for “user-watched-ad”');
    assert.equal(await page.locator('#try-result tr[data-rule="binge-watcher"]').filter({ hasText: 'skipped' }).count(), 0);

    const event = { type: 'track', event: 'user-watched-ad', userId: 'sam', properties: { completed: true }, timestamp: new Date().toISOString() };
    await page.fill('#try-event', JSON.stringify(event));
    await page.fill('#try-user', JSON.stringify({ traits: {}, stats: { daily: { ads_watched: 6 } } }));
    await page.click('#try-run');
    await seen('#try-result tr[data-rule="binge-watcher"]', /^binge-watcherad-watchermatched$/);
    await seen('#try-change', '+ ad-watcher');

    // Below the threshold the rule does not match.
    await page.fill('#try-user', JSON.stringify({ traits: {}, stats: { daily: { ads_watched: 4 } } }));
    await page.click('#try-run');
    await seen('#try-result tr[data-rule="binge-watcher"]', 'no match');
  });

  it('publishes the rule', async () => {
    await page.click('#apply-rule');
    await seen('#draft-summary', '1 rule added');
    await page.fill('#publish-message', 'binge watchers are ad watchers');
    await page.click('#publish-btn');
    await seen('#notice', 'Published version 2');
    await seen('#version-badge', 'live: v2');
    assert.equal(await page.locator('#draft-bar').isVisible(), false);
    const cur = await api('GET', '/v1/rulesets/current');
    assert.equal(cur.version, 2);
    assert.ok(cur.ruleset.rules.some((r) => r.id === 'binge-watcher' && r.when === 'user.stats.daily.ads_watched >= 5'));
  });

  it('shows the history with the diff', async () => {
    await page.click('#tab-history');
    await seen('#history-body tr[data-version="2"]', 'binge watchers are ad watchers');
    await seen('#history-body tr[data-version="1"]', 'game rule set');
    await seen('#diff-title', 'Changes from v1 to v2');
    await seen('#diff .add', 'binge-watcher');
    assert.equal(await page.locator('#diff .del').count(), 0, 'adding a rule removes no line');
    // A long diff line scrolls inside its panel; it must not widen the page
    // and slide the diff over the history's rollback buttons.
    const [scrollW, viewW] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scrollW <= viewW, `page is ${scrollW}px wide in a ${viewW}px window`);
    await page.screenshot({ path: join(shots, '2-history-diff.png'), fullPage: true });
  });

  it('rolls back to version 1', async () => {
    await page.click('#history-body [data-rollback="1"]');
    await page.click('#history-body [data-confirm="1"]');
    await seen('#notice', 'Rolled back: version 3 is a copy of version 1');
    await seen('#version-badge', 'live: v3');
    await seen('#history-body tr[data-version="3"]', 'rollback of v1');
    const cur = await api('GET', '/v1/rulesets/current');
    assert.equal(cur.version, 3);
    assert.ok(!cur.ruleset.rules.some((r) => r.id === 'binge-watcher'));
    // Back in the catalog, the rule is gone there too.
    await page.click('#tab-catalog');
    await page.locator('#rule-list li[data-rule="watches-ads"]').waitFor({ timeout: WAIT });
    assert.equal(await page.locator('#rule-list li[data-rule="binge-watcher"]').count(), 0);
    await page.screenshot({ path: join(shots, '3-after-rollback.png'), fullPage: true });
  });

  it('raised no error in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
