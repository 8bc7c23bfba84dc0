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

async function newUser(name, viewport) {
  const context = await browser.newContext({ viewport: viewport || { width: 1280, height: 800 },
    locale: 'en-GB', timezoneId: 'Europe/London' });
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
    const context = await browser.newContext();
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

  await t.test('canvasser: an incident filed offline is sent when back online', async () => {
    const obs = await newUser('obs', { width: 360, height: 740 });
    const { page, context } = obs;
    assert.equal(new URL(page.url()).pathname, '/report');
    await page.evaluate(() => navigator.serviceWorker.ready);
    await inspect(page, 'report');
    await context.setOffline(true);
    reportTitle = 'Man filming canvassers at Oak Road ' + Date.now();
    await page.selectOption('#rtype', 'intimidation_polling_station');
    await page.fill('#rdesc', reportTitle + '\nHe followed us for two streets.');
    await page.fill('#rwhere', 'Oak Road polling station');
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
    await page.goto(`${BASE}/cases/${caseId}`);
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

  await t.test('logged out: every page sends you to log in', async () => {
    const context = await browser.newContext();
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
