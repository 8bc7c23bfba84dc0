/*
 * web.test.js - the web desk in a real browser (Debian's chromium driven by
 * playwright-core; no browser is downloaded), against a real `threatdesk
 * serve` started by tests/integration/server_web.sh, which passes:
 *   TD_BASE      http://127.0.0.1:PORT
 *   TD_PW        the password of every user below (cw, sec, obs, pc; boss in
 *                the other office)
 *   TD_SHOTS     where the screenshots go (1280 and 360 px per page)
 * Flows: the caseworker's live queue, message, escalation into a case; the
 * canvasser's offline report; the security lead's board; police see only
 * what was reported to them; an observer and another office's admin reach
 * nothing (direct URLs); axe-core on every page (no serious or critical
 * violation); no CSP violation; page weight <= 150 KB.
 */
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const BASE = process.env.TD_BASE;
const PW = process.env.TD_PW;
const SHOTS = process.env.TD_SHOTS || path.join(__dirname, 'shots');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CHROMIUM = process.env.TD_CHROMIUM || '/usr/bin/chromium';
const CRITICAL = 'I will kill you, I know where you live and I will come with a knife tonight.';

fs.mkdirSync(SHOTS, { recursive: true });
let browser;
const cspViolations = [];
const weights = {};
const axeReport = {};

async function api(method, p, body, token) {
  const res = await fetch(BASE + p, {
    method, headers: Object.assign({ 'Content-Type': 'application/json' },
      token ? { Authorization: 'Bearer ' + token } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: res.status, json };
}

/* Every browser context is a UK one: the dates a person reads are checked as such. */
const UK = { locale: 'en-GB', timezoneId: 'Europe/London' };

async function newUser(name, viewport, extra) {
  const context = await browser.newContext(Object.assign({ viewport: viewport || { width: 1280, height: 800 } },
    UK, extra || {}));
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(name + ': ' + m.text());
  });
  const r = await page.goto(BASE + '/login');
  assert.equal(r.status(), 200);
  await page.fill('#username', name);
  await page.fill('#password', PW);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  return { context, page };
}

/* axe-core, a screenshot at 1280 and at 360 px, and the page's weight. */
async function inspect(page, name) {
  await page.evaluate(AXE + '\n;0'); // evaluate is not subject to the page's CSP
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length,
      target: v.nodes[0] && v.nodes[0].target }));
  });
  axeReport[name] = res;
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], name + ': serious/critical axe violations ' + JSON.stringify(bad));
  const vp = page.viewportSize();
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: path.join(SHOTS, name + '-1280.png') });
  await page.setViewportSize({ width: 360, height: 740 });
  await page.screenshot({ path: path.join(SHOTS, name + '-360.png') });
  await page.setViewportSize(vp);
  // weight: the document plus every same-origin resource it loads
  const bytes = await page.evaluate(async () => {
    const urls = [location.href].concat(
      Array.from(document.querySelectorAll('link[rel=stylesheet],script[src]')).map((e) => e.href || e.src));
    let n = 0;
    for (const u of urls) n += (await (await fetch(u, { credentials: 'same-origin' })).arrayBuffer()).byteLength;
    return n;
  });
  weights[name] = bytes;
  assert.ok(bytes <= 150 * 1024, name + ' weighs ' + bytes + ' bytes');
}

async function status(page, url) {
  const r = await page.goto(BASE + url);
  return r.status();
}

test('the web desk', { timeout: 240000 }, async (t) => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--lang=en-GB'],
  });
  const cwToken = (await api('POST', '/v1/login', { username: 'cw', password: PW })).json.token;
  assert.ok(cwToken, 'caseworker API login');
  let messageId, caseId, reportCase, reportTitle;

  await t.test('login page: accessible, strict CSP, cookie flags', async () => {
    const context = await browser.newContext(UK);
    const page = await context.newPage();
    const r = await page.goto(BASE + '/login');
    const csp = r.headers()['content-security-policy'];
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /object-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    await inspect(page, 'login');
    await page.fill('#username', 'cw');
    await page.fill('#password', 'wrong-password');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.match(await page.textContent('.problem'), /do not match/);
    await context.close();
  });

  const cw = await newUser('cw');
  await t.test('caseworker: queue, a critical message arrives live within 2 s', async () => {
    const { page, context } = cw;
    assert.equal(new URL(page.url()).pathname, '/queue');
    const cookie = (await context.cookies()).find((c) => c.name === 'td_session');
    assert.ok(cookie.httpOnly, 'session cookie is HttpOnly');
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '', 'script cannot read the session');
    await page.waitForSelector('body[data-live=open]', { timeout: 5000 });
    await inspect(page, 'queue');
    const t0 = Date.now();
    const r = await api('POST', '/v1/messages', { text: CRITICAL, channel: 'email',
      sender: 'email:menace@example.org', subject: 'You have been warned' }, cwToken);
    assert.equal(r.status, 201);
    assert.equal(r.json.severity, 'critical');
    messageId = r.json.id;
    await page.waitForSelector(`#queue-list .row[data-id="${messageId}"]`, { timeout: 2000 });
    const ms = Date.now() - t0;
    console.log(`# live arrival in the queue: ${ms} ms`);
    assert.ok(ms < 2000);
    // most urgent first: the critical one heads the list
    assert.equal(await page.getAttribute('#queue-list .row:first-child', 'data-id'), String(messageId));
    assert.match(await page.textContent('#live'), /Critical message arrived/);
    // ? shows the keys
    await page.keyboard.press('?');
    assert.ok(await page.isVisible('#keys-help'), 'help dialog');
    await page.keyboard.press('Escape');
    // j then Enter opens it, keyboard only
    await page.keyboard.press('j');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.equal(new URL(page.url()).pathname, `/messages/${messageId}`);
  });

  await t.test('caseworker: the message with its spans highlighted and named', async () => {
    const { page } = cw;
    const marks = await page.$$eval('#analysed mark.span', (ms) => ms.map((m) => m.textContent));
    assert.ok(marks.length >= 2, 'spans are marked: ' + JSON.stringify(marks));
    assert.ok(marks.some((m) => /I will kill you/.test(m) && /grammar threat\.direct/.test(m)),
      'the span names its rule: ' + JSON.stringify(marks));
    assert.match(await page.textContent('.original'), /come with a knife/);
    assert.match(await page.textContent('.spans'), /found by the grammar rule/);
    assert.match(await page.textContent('#hist'), /Sender history/);
    assert.equal(new URL(page.url()).search, '', 'no text in the URL');
    await inspect(page, 'message');
    // a POST without the CSRF token is refused
    const forged = await page.request.post(`${BASE}/messages/${messageId}/review`,
      { form: { reason: 'x' }, headers: { Origin: BASE } });
    assert.equal(forged.status(), 403);
    const cross = await page.request.post(`${BASE}/messages/${messageId}/review`,
      { form: { csrf: await page.getAttribute('meta[name=csrf-token]', 'content') },
        headers: { Origin: 'http://evil.example' } });
    assert.equal(cross.status(), 403);
  });

  await t.test('caseworker: escalate into a case (keyboard e)', async () => {
    const { page } = cw;
    await page.keyboard.press('e');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'ereason');
    await page.keyboard.type('Direct threat with a weapon and a time');
    await Promise.all([page.waitForNavigation(), page.click('#f-escalate button[type=submit]')]);
    const m = new URL(page.url()).pathname.match(/^\/cases\/(\d+)$/);
    assert.ok(m, 'lands on the new case: ' + page.url());
    caseId = Number(m[1]);
    assert.match(await page.textContent('h1'), /You have been warned/);
    assert.match(await page.textContent('.timeline'), /case\.create/);
    const msg = await api('GET', `/v1/messages/${messageId}`, null, cwToken);
    assert.equal(msg.json.status, 'escalated');
    assert.deepEqual(msg.json.cases, [caseId]);
  });

  await t.test('caseworker: sender history page, queue filters, a second message into the case', async () => {
    const { page } = cw;
    await page.goto(`${BASE}/messages/${messageId}`);
    await Promise.all([page.waitForNavigation(), page.click('text=Everything from this sender')]);
    assert.equal(new URL(page.url()).pathname, `/messages/${messageId}/sender`, 'no address in the URL');
    assert.match(await page.textContent('h1'), /email:menace@example\.org/);
    await inspect(page, 'sender');
    await page.goto(`${BASE}/queue?view=all&severity=critical`);
    const sev = await page.$$eval('#queue-list .row', (rs) => rs.map((r) => r.querySelector('.sev').textContent));
    assert.ok(sev.length >= 1 && sev.every((x) => x === 'critical'), JSON.stringify(sev));
    assert.equal(await status(page, '/queue?severity=<script>'), 400);
    // a second message joins the case by its number
    const r = await api('POST', '/v1/messages', { text: 'We are watching your office. Every day.',
      channel: 'facebook', sender: 'facebook:menace' }, cwToken);
    await page.goto(`${BASE}/messages/${r.json.id}`);
    await page.fill('#lcase', String(caseId));
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/link"] button')]);
    assert.equal(new URL(page.url()).pathname, `/cases/${caseId}`);
    assert.equal(await page.locator(`a[href="/messages/${r.json.id}"]`).count(), 1);
  });

  await t.test('caseworker: review with r, dismiss with d and a reason', async () => {
    const { page } = cw;
    const q = await api('GET', '/v1/queue?status=unreviewed&limit=50', null, cwToken);
    const kind = q.json.messages.find((m) => /planning appeal/.test(m.text));
    const rude = q.json.messages.find((m) => /traitor/.test(m.text));
    await page.goto(`${BASE}/messages/${kind.id}`);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('r')]);
    assert.equal(new URL(page.url()).pathname, '/queue');
    assert.equal((await api('GET', `/v1/messages/${kind.id}`, null, cwToken)).json.status, 'reviewed');
    await page.goto(`${BASE}/messages/${rude.id}`);
    await page.keyboard.press('d');
    await page.keyboard.type('Robust criticism, no threat');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    const m = (await api('GET', `/v1/messages/${rude.id}`, null, cwToken)).json;
    assert.equal(m.status, 'dismissed');
    assert.equal(m.status_reason, 'Robust criticism, no threat');
    assert.equal(await page.locator(`#queue-list .row[data-id="${rude.id}"]`).count(), 0, 'gone from the queue');
  });

  await t.test('canvasser: an incident filed offline is sent when back online', async () => {
    const obs = await newUser('obs', { width: 360, height: 740 },
      { geolocation: { latitude: 53.7098, longitude: -1.6297 }, permissions: ['geolocation'] });
    const { page, context } = obs;
    assert.equal(new URL(page.url()).pathname, '/report');
    await page.evaluate(() => navigator.serviceWorker.ready);
    await inspect(page, 'report');
    await context.setOffline(true);
    reportTitle = 'Man filming canvassers at Oak Road ' + Date.now();
    await page.selectOption('#rtype', 'intimidation_polling_station');
    await page.fill('#rdesc', reportTitle + '\nHe followed us for two streets.');
    await page.fill('#rwhere', 'Oak Road polling station');
    await page.click('#rgps'); // consent is the click (and the browser's permission)
    await page.waitForFunction(() => document.getElementById('rlat').value !== '');
    await page.setInputFiles('#rphoto', { name: 'leaflet.jpg', mimeType: 'image/jpeg',
      buffer: Buffer.from('ffd8ffe000104a46494600', 'hex') });
    await page.click('#report-form button[type=submit]');
    await page.waitForFunction(() => /Saved on this phone/.test(document.getElementById('report-status').textContent));
    // the form still opens with no signal (service worker)
    await page.reload();
    assert.ok(await page.$('#report-form'), 'the form loads offline');
    await context.setOffline(false);
    await page.waitForFunction(() => /case number is \d+/.test(document.getElementById('report-status').textContent),
      null, { timeout: 15000 });
    reportCase = Number((await page.textContent('#report-status')).match(/case number is (\d+)/)[1]);
    assert.ok(reportCase > 0);
    // the same report sent again (its answer lost) is the same case
    const csrf = await page.getAttribute('meta[name=csrf-token]', 'content');
    const form = { csrf, ref: 'test-ref-1', type: 'other', description: 'Sent twice' };
    const first = await page.request.post(BASE + '/report', { form, headers: { Accept: 'application/json' } });
    const second = await page.request.post(BASE + '/report', { form, headers: { Accept: 'application/json' } });
    assert.equal(first.status(), 201);
    assert.equal(second.status(), 200);
    assert.equal((await second.json()).case, (await first.json()).case);
    await page.goto(BASE + '/reports');
    await page.waitForFunction((n) => document.getElementById('my-reports').textContent.includes('Case ' + n), reportCase);
    await inspect(page, 'my-reports');
    // an observer reaches nothing else, whatever the URL
    for (const u of ['/queue', `/messages/${messageId}`, '/cases', `/cases/${caseId}`,
      `/cases/${reportCase}`, '/evidence/1', '/staff', '/events']) {
      assert.equal(await status(page, u), 403, 'observer ' + u);
    }
    await obs.context.close();
  });

  await t.test('security lead: the report is on the board; report the case to police', async () => {
    const sec = await newUser('sec');
    const { page } = sec;
    await page.goto(BASE + '/cases');
    const card = page.locator('.card', { hasText: reportTitle.slice(0, 40) });
    assert.equal(await card.count(), 1, 'the offline report is on the board');
    assert.match(await page.textContent('#col-new'), /New/);
    await inspect(page, 'cases');
    await page.goto(BASE + '/cases?type=assault');
    assert.equal(await page.locator('.card').count(), 0, 'filtered by kind');
    await page.goto(BASE + '/cases?type=intimidation_polling_station');
    assert.equal(await page.locator('.card').count(), 1);
    // the report came with its place and the photo taken offline
    await page.goto(`${BASE}/cases/${reportCase}`);
    assert.match(await page.textContent('.facts'), /Oak Road polling station/);
    assert.match(await page.textContent('.facts'), /53\.70980, -1\.62970/);
    assert.match(await page.textContent('#evidence-list'), /leaflet\.jpg/);
    await page.goto(`${BASE}/cases/${caseId}`);
    // details: where, who, assigned to
    await page.click('summary:has-text("Edit the details")');
    await page.fill('#dplace', 'Constituency office, 1 High Street');
    await page.fill('#dpeople', 'menace@example.org; a man in a grey van');
    await page.fill('#dassignee', 'sec');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/details"] button')]);
    const facts = await page.textContent('.facts');
    assert.match(facts, /1 High Street/);
    assert.match(facts, /menace@example\.org; a man in a grey van/);
    assert.match(facts, /Assigned to\s*sec/);
    // evidence: the file input (a phone offers its camera) uploads at once
    await Promise.all([page.waitForNavigation(), page.setInputFiles('#evidence-file',
      { name: 'screenshot.png', mimeType: 'image/png', buffer: Buffer.from('89504e470d0a1a0a', 'hex') })]);
    assert.match(await page.textContent('#evidence-list'), /screenshot\.png/);
    // a shareable and an internal note
    await page.fill('#note', 'Shareable: sender traced to the same area');
    await page.check('input[name=shareable]');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/notes"] button')]);
    await page.fill('#note', 'Internal only: staff rota changed');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/notes"] button')]);
    await page.selectOption('#cstatus', 'triaged');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/status"] button')]);
    await page.selectOption('#cstatus', 'reported_to_police');
    await page.fill('#cpref', 'WYP-2026-77');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/status"] button')]);
    assert.match(await page.textContent('.cstatus'), /Reported to police/);
    await inspect(page, 'case');
    await sec.context.close();
  });

  await t.test('security lead: the queue filtered by sender and by date (UK or date input)', async () => {
    const sec = await newUser('sec');
    const { page } = sec;
    const rows = async () => page.$$eval('#queue-list .row', (rs) => rs.length);
    const today = new Date().toLocaleDateString('en-GB', { timeZone: 'Europe/London' }); // dd/mm/yyyy
    const [d, m, y] = today.split('/');
    await page.goto(`${BASE}/queue?view=all`);
    const everything = await rows();
    assert.ok(everything >= 3, 'messages to filter: ' + everything);
    // by sender, through the form
    await page.click('details.filters summary');
    await page.fill('#sender', 'twitter:@rude');
    await Promise.all([page.waitForNavigation(), page.click('details.filters button[type=submit]')]);
    assert.equal(await rows(), 1);
    assert.match(await page.textContent('#queue-list'), /twitter:@rude|rude/);
    assert.equal(new URL(page.url()).searchParams.get('sender'), 'twitter:@rude');
    assert.doesNotMatch(page.url(), /traitor|scum/, 'no message text in the URL');
    // by date: today, as the date input sends it and as typed in the UK
    await page.goto(`${BASE}/queue?view=all&from=${y}-${m}-${d}&to=${y}-${m}-${d}`);
    assert.equal(await rows(), everything);
    assert.equal(await page.inputValue('#from'), `${y}-${m}-${d}`);
    await inspect(page, 'queue-filtered');
    await page.goto(`${BASE}/queue?view=all&from=${encodeURIComponent(today)}`);
    assert.equal(await rows(), everything);
    await page.goto(`${BASE}/queue?view=all&to=01/01/2026`);
    assert.equal(await rows(), 0, 'nothing before 2026');
    // a date that is not one: told on the page, not a 500
    let r = await page.goto(`${BASE}/queue?view=all&from=31/02/2026`);
    assert.equal(r.status(), 400);
    assert.match(await page.textContent('#filter-problem'), /'from' date is not a date/);
    r = await page.goto(`${BASE}/queue?from=${y}-${m}-${d}&to=01/01/2026`);
    assert.equal(r.status(), 400);
    assert.match(await page.textContent('#filter-problem'), /after the 'to' date/);
    await sec.context.close();
  });

  await t.test('police: only the reported case, read-only, shareable notes only', async () => {
    const pc = await newUser('pc');
    const { page } = pc;
    assert.equal(new URL(page.url()).pathname, '/cases');
    const cards = await page.$$eval('.card a', (as) => as.map((a) => a.getAttribute('href')));
    assert.deepEqual(cards, [`/cases/${caseId}`]);
    await inspect(page, 'police-cases');
    assert.equal(await status(page, `/cases/${caseId}`), 200);
    const text = await page.textContent('main');
    assert.match(text, /WYP-2026-77/);
    assert.match(text, /Shareable: sender traced/);
    assert.doesNotMatch(text, /Internal only/);
    assert.match(await page.textContent('.notes li.shareable'), /shareable with police/);
    assert.equal(await page.$('form textarea, #cstatus, #evidence-file'), null, 'no forms for police');
    await inspect(page, 'police-case');
    for (const u of ['/queue', `/messages/${messageId}`, '/report', '/staff']) {
      assert.equal(await status(page, u), 403, 'police ' + u);
    }
    assert.equal(await status(page, `/cases/${reportCase}`), 404, 'police: unreported case');
    await pc.context.close();
  });

  await t.test('another office sees none of it', async () => {
    const boss = await newUser('other/boss');
    const { page } = boss;
    for (const u of [`/messages/${messageId}`, `/cases/${caseId}`, `/cases/${reportCase}`, '/evidence/1']) {
      assert.equal(await status(page, u), 404, 'other office ' + u);
    }
    await page.goto(BASE + '/queue');
    assert.doesNotMatch(await page.content(), /knife|warned|menace/);
    await page.goto(BASE + '/cases');
    assert.doesNotMatch(await page.content(), /warned|Oak Road/);
    await boss.context.close();
  });

  await t.test('admin: staff page adds and disables someone', async () => {
    const adm = await newUser('admin');
    const { page } = adm;
    await page.goto(BASE + '/staff');
    await page.fill('#su', 'temp');
    await page.selectOption('#sr', 'caseworker');
    await page.fill('#sp', PW);
    await page.click('form[action="/staff"] button');
    await page.waitForSelector('.note');
    assert.match(await page.textContent('tbody'), /temp/);
    await inspect(page, 'staff');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/staff/temp/disable"] button')]);
    assert.match(await page.textContent('tbody tr:has-text("temp")'), /disabled/);
    assert.equal((await api('POST', '/v1/login', { username: 'temp', password: PW })).status, 401);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/staff/temp/enable"] button')]);
    await page.fill('#np-temp', 'reset-pw-98765');
    await page.click('form[action="/staff/temp/password"] button');
    await page.waitForSelector('.note');
    assert.equal((await api('POST', '/v1/login', { username: 'temp', password: 'reset-pw-98765' })).status, 200);
    assert.equal((await api('POST', '/v1/login', { username: 'temp', password: PW })).status, 401);
    // connect the mailbox: a key for the caseworker, shown once, that ingests
    await page.selectOption('#ku', 'cw');
    await page.fill('#kl', 'office mailbox');
    await page.click('form[action="/keys"] button');
    const key = await page.textContent('#new-key');
    assert.match(key, /^[0-9a-f]{64}$/);
    const viaKey = await fetch(BASE + '/v1/messages', { method: 'POST',
      headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'Hello from the mailbox', channel: 'email', sender: 'email:box@example.org' }) });
    assert.equal(viaKey.status, 201);
    await page.goto(BASE + '/staff');
    assert.equal(await page.locator('#new-key').count(), 0, 'a key is shown once');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/revoke"] button')]);
    assert.match(await page.textContent('.keys-list'), /revoked/);
    const after = await fetch(BASE + '/v1/messages', { method: 'POST',
      headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'again', channel: 'email' }) });
    assert.equal(after.status, 401);
    await adm.context.close();
  });

  await t.test('admin: changes a caseworker to security lead; nobody else may', async () => {
    const adm = await newUser('admin');
    const { page } = adm;
    await page.goto(BASE + '/staff');
    await page.fill('#su', 'promo');
    await page.selectOption('#sr', 'caseworker');
    await page.fill('#sp', PW);
    await page.click('form[action="/staff"] button');
    await page.waitForSelector('.note');
    assert.equal(await page.inputValue('#nr-promo'), 'caseworker');
    await page.selectOption('#nr-promo', 'security');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/staff/promo/role"] button')]);
    assert.match(await page.textContent('.note'), /Role changed/);
    assert.match(await page.textContent('tbody tr:has-text("promo")'), /security/);
    assert.equal(await page.inputValue('#nr-promo'), 'security');
    await inspect(page, 'staff-role');
    // the office's last admin cannot be demoted (the desk's rule, as for PATCH /v1/users)
    const last = await page.evaluate(async () => {
      const csrf = document.querySelector('meta[name=csrf-token]').content;
      const r = await fetch('/staff/admin/role', { method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'role=caseworker&csrf=' + csrf });
      return { status: r.status, text: await r.text() };
    });
    assert.equal(last.status, 400);
    assert.match(last.text, /last admin/);
    // (server_web.sh checks the audit entry: "user.role", as PATCH /v1/users writes it)
    const promoted = await newUser('promo');
    if (new URL(promoted.page.url()).pathname === '/password') {
      await promoted.page.fill('#password', PW);
      await promoted.page.fill('#again', PW);
      await Promise.all([promoted.page.waitForNavigation(), promoted.page.click('button[type=submit]')]);
    }
    assert.equal(await status(promoted.page, '/cases'), 200);
    assert.match(await promoted.page.textContent('.who'), /security/);
    assert.ok(await promoted.page.locator('.board, main h1').count() > 0, 'the cases board');
    await promoted.context.close();
    await adm.context.close();
    // a non-admin's POST, with its own valid CSRF token, is refused
    const denied = await cw.page.evaluate(async () => {
      const csrf = document.querySelector('meta[name=csrf-token]').content;
      const r = await fetch('/staff/promo/role', { method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'role=admin&csrf=' + csrf });
      return r.status;
    });
    assert.equal(denied, 403);
    // and a POST without the token is refused too
    const noCsrf = await cw.page.evaluate(async () => (await fetch('/staff/promo/role', { method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'role=admin' })).status);
    assert.equal(noCsrf, 403);
  });

  await t.test('admin: office settings - retention set, alert rules listed by name', async () => {
    const admTok = (await api('POST', '/v1/login', { username: 'admin', password: PW })).json.token;
    const rec = await api('POST', '/v1/alert-recipients', { name: 'Duty security lead',
      email: 'lead@example.org' }, admTok);
    assert.equal(rec.status, 201, JSON.stringify(rec.json));
    const rec2 = await api('POST', '/v1/alert-recipients', { name: 'Office manager',
      email: 'manager@example.org' }, admTok);
    const rule = await api('POST', '/v1/alert-rules', { name: 'Critical threats', min_tier: 'critical',
      channels: ['email'], rota: [rec.json.id, rec2.json.id], escalate_minutes: 10 }, admTok);
    assert.equal(rule.status, 201, JSON.stringify(rule.json));
    const adm = await newUser('admin');
    const { page } = adm;
    await page.goto(BASE + '/settings');
    assert.match(await page.textContent('#retention-now'), /kept/);
    assert.match(await page.textContent('#alert-rules'), /Critical threats/);
    assert.match(await page.textContent('#alert-rules .rota'), /Duty security lead\s*Office manager/);
    assert.match(await page.textContent('#alert-recipients'), /lead@example\.org/);
    await inspect(page, 'settings');
    await page.fill('#days', '30');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/settings/retention"] button')]);
    assert.match(await page.textContent('.note'), /Saved/);
    assert.match(await page.textContent('#retention-now'), /30 days/);
    assert.equal((await api('GET', '/v1/retention', null, admTok)).json.retention_days, 30);
    await page.fill('#days', '-1');
    await page.evaluate(() => document.querySelector('#days').removeAttribute('min'));
    await Promise.all([page.waitForNavigation(), page.click('form[action="/settings/retention"] button')]);
    assert.match(await page.textContent('.problem'), /whole number/);
    assert.equal((await api('GET', '/v1/retention', null, admTok)).json.retention_days, 30);
    await adm.context.close();
    // nobody but the admin opens or changes it
    assert.equal(await status(cw.page, '/settings'), 403);
    await cw.page.goto(BASE + '/queue');
    const denied = await cw.page.evaluate(async () => {
      const csrf = document.querySelector('meta[name=csrf-token]').content;
      return (await fetch('/settings/retention', { method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'retention_days=1&csrf=' + csrf })).status;
    });
    assert.equal(denied, 403);
    assert.equal((await api('GET', '/v1/retention', null, admTok)).json.retention_days, 30);
  });

  await t.test('logged out: every page sends you to log in', async () => {
    const context = await browser.newContext(UK);
    const page = await context.newPage();
    for (const u of ['/queue', `/messages/${messageId}`, `/cases/${caseId}`, '/report']) {
      await page.goto(BASE + u);
      assert.equal(new URL(page.url()).pathname, '/login', u);
    }
    await context.close();
  });

  await cw.context.close();
  await browser.close();
  fs.writeFileSync(path.join(SHOTS, 'report.json'), JSON.stringify({ weights, axe: axeReport }, null, 1));
  console.log('# page weights (bytes): ' + JSON.stringify(weights));
  assert.deepEqual(cspViolations, [], 'CSP violations');
});
