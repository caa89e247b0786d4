/**
 * The console in a real browser: Debian's Chromium driven by playwright-core,
 * against a real `pgcdc run` (PostgreSQL, a file sink, a dead-letter file).
 * Screenshots of every page are kept in artifacts/console/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ChangeEvent } from '../../src/events/change-event.ts';
import { configWriter, startCli, stopGracefully, waitForStreaming, type RunningCli } from '../support/cli.ts';
import { eventually } from '../support/collect.ts';
import { jsonLines } from '../support/json-lines.ts';
import { latestMajor, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { freePort } from '../../src/demo/embedded-postgres.ts';

const ARTIFACTS = fileURLToPath(new URL('../../artifacts/console/', import.meta.url));
const TOKEN = 'console-test-token-0123456789';

let server: TestPostgres;
let browser: Browser;
let dir: string;
let out: string;
let deadLetters: string;
let write: (name: string, text: string) => string;

before(async () => {
  [server, browser] = await Promise.all([
    startPostgres(latestMajor()),
    chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    }),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'pgcdc-console-'));
  write = configWriter(dir);
  out = join(dir, 'out.jsonl');
  deadLetters = join(dir, 'dead-letters.jsonl');
  mkdirSync(ARTIFACTS, { recursive: true });
  // Rows whose note is 'reject' are dead-lettered by this transform: what the console retries.
  writeFileSync(join(dir, 'reject.mjs'), `export default (event, context) => {
  if (event.after?.note === 'reject') { context.deadLetter(event, 'note says reject (test transform)'); return null; }
  return event;
};\n`);
  await server.query(`CREATE TABLE orders (id int PRIMARY KEY, note text);
    CREATE TABLE big (id int PRIMARY KEY, pad text);
    INSERT INTO big SELECT g, repeat('b', 50) FROM generate_series(1, 5000) g;
    CREATE PUBLICATION console_pub FOR TABLE orders, big`);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

function config(port: number, metrics: string): string {
  return write(`console-${port}.yaml`, `
source: { url: "\${DATABASE_URL}", slot: console, publication: console_pub, statusInterval: 200ms }
snapshot: { mode: never, incrementalChunkSize: 500 }
sink: { type: file, path: "${out}" }
deadLetter: { type: file, path: "${deadLetters}" }
transforms: ["./reject.mjs"]
heartbeat: false
metrics: ${metrics}
`);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const eventsOut = () => jsonLines<ChangeEvent>(out);

describe('the console, in Chromium, against pgcdc run', () => {
  test('overview charts a draining backlog; the live tail filters; a dead letter is retried; an incremental snapshot reaches 100%', async () => {
    const port = await freePort();
    const env = { DATABASE_URL: server.url() };
    const yaml = config(port, `{ port: ${port} }`);
    // A first run makes the slot; then a backlog is written while pgcdc is down.
    let running: RunningCli = startCli(['run', '--config', yaml], env);
    await waitForStreaming(running);
    assert.equal(await stopGracefully(running), 0, running.stderr());
    await server.query(`INSERT INTO orders SELECT g, 'backlog' FROM generate_series(1, 150000) g`);
    await new Promise((r) => setTimeout(r, 1500)); // the backlog's commit is seconds old when it is read: lag in seconds

    running = startCli(['run', '--config', yaml], env);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const base = `http://127.0.0.1:${port}`;
    try {
      await eventually('the console', async () => (await fetch(`${base}/`).catch(() => undefined))?.status, (s) => s === 200, 30_000);
      await page.goto(`${base}/#/overview`);
      const card = page.getByTestId('pipeline-console');
      await card.waitFor();
      // The lag chart has points and a nonzero maximum while (and after) the backlog drains.
      await eventually('a nonzero lag on the chart', async () => Number(await card.getByTestId('chart-lag').getAttribute('data-max')), (n) => n > 0, 30_000);
      await eventually('events/s on the chart', async () => Number(await card.getByTestId('chart-events').getAttribute('data-max')), (n) => n > 0, 30_000);
      assert.ok(await card.locator('canvas').count() >= 3, 'three charts drawn on canvas');
      assert.match(await card.getByTestId('state').innerText(), /^(streaming|snapshotting)$/);
      await eventually('the backlog delivered', async () => eventsOut().filter((e) => e.op === 'c').length, (n) => n === 150000, 60_000);
      await shot(page, 'overview');

      // Live tail, filtered to inserts into public.orders: a new insert shows within 2 s; others do not.
      await page.goto(`${base}/#/events`);
      await page.locator('input[name=tables]').fill('public.orders');
      await page.locator('input[name=op-c]').check();
      await page.getByRole('button', { name: 'apply' }).click();
      await page.locator('.dot.on').waitFor();
      await server.query(`INSERT INTO big VALUES (900001, 'not shown'); UPDATE orders SET note = 'updated, not shown' WHERE id = 1`);
      const inserted = Date.now();
      await server.query(`INSERT INTO orders VALUES (200001, 'watched')`);
      const row = page.getByTestId('events').locator('tr', { hasText: '"id":200001' });
      await row.waitFor({ timeout: 2000 });
      const shownAfter = Date.now() - inserted;
      assert.ok(shownAfter <= 2000, `shown after ${shownAfter} ms`);
      const shownRows = await page.getByTestId('events').locator('tbody tr').allInnerTexts();
      assert.ok(shownRows.every((text) => /public\.orders/.test(text) && /insert/.test(text)), shownRows.join('\n'));
      await row.click();
      const detail = page.getByTestId('event-detail');
      assert.match(await detail.innerText(), /pgcdc\.public\.orders/); // the route: the topic
      assert.match(await detail.innerText(), /"note": "watched"/);
      await shot(page, 'events');

      // A dead letter, retried from the page, arrives in the sink.
      await server.query(`INSERT INTO orders VALUES (300001, 'reject')`);
      await eventually('the dead letter', async () => readFileSync(deadLetters, 'utf8').split('\n').filter(Boolean).length, (n) => n === 1);
      assert.equal(eventsOut().filter((e) => e.after?.id === 300001).length, 0);
      await page.goto(`${base}/#/dead-letters`);
      const letters = page.getByTestId('dead-letters-console');
      await letters.locator('tr[data-line="1"]').waitFor();
      assert.match(await letters.innerText(), /note says reject/);
      await shot(page, 'dead-letters');
      await letters.locator('tr[data-line="1"] input[type=checkbox]').check();
      await letters.getByTestId('retry-selected').click();
      await eventually('the retry result', async () => page.getByTestId('action-result').innerText().catch(() => ''), (t) => /delivered/.test(t), 30_000);
      const retried = eventsOut().filter((e) => e.after?.id === 300001);
      assert.equal(retried.length, 1, 'the retried event is in the sink once');
      assert.equal(retried[0]!.op, 'c');
      await eventually('the decision shown', async () => letters.locator('tr[data-line="1"] [data-testid=decision]').innerText(), (t) => /^retried/.test(t));
      assert.match(readFileSync(`${deadLetters}.decisions`, 'utf8'), /"line":1,"action":"retried"/);

      // An incremental snapshot started from the page reaches 100%.
      await page.goto(`${base}/#/snapshots`);
      const snaps = page.getByTestId('snapshots-console');
      await snaps.locator('input[name=table]').fill('public.big');
      await snaps.locator('input[name=where]').fill('id <= 4000');
      await snaps.getByTestId('start-snapshot').click();
      await eventually('the snapshot at 100%', async () => snaps.getByTestId('incremental-progress').getAttribute('data-percent').catch(() => null), (p) => p === '100', 60_000);
      const reads = eventsOut().filter((e) => e.op === 'r' && e.source.table === 'big');
      assert.equal(new Set(reads.map((e) => e.after!.id)).size, 4000);
      assert.ok(reads.every((e) => (e.after!.id as number) <= 4000));
      await shot(page, 'snapshots');

      await page.goto(`${base}/#/slots`);
      const slotRow = page.getByTestId('slots').locator('tr[data-slot="console"]');
      await slotRow.waitFor();
      assert.match(await slotRow.innerText(), /yes \(pid \d+\)/);
      await shot(page, 'slots');

      // No secret on any page or API answer: the database password is in DATABASE_URL.
      const password = new URL(server.url()).password;
      assert.ok(password.length > 0);
      for (const path of ['/api/overview', '/api/dead-letters', '/api/snapshots', '/api/slots']) {
        assert.ok(!(await (await fetch(`${base}${path}`)).text()).includes(password), `${path} shows the password`);
      }
    } finally {
      await page.close();
      await stopGracefully(running);
    }
  });

  test('bound to 127.0.0.2, every request without the token is refused; with it the console works and the retry decision survived the restart', async () => {
    const port = await freePort();
    const env = { DATABASE_URL: server.url() };
    // Without a token configured, a non-loopback bind is refused at start, in one line.
    const open = startCli(['run', '--config', config(port, `{ host: 127.0.0.2, port: ${port} }`)], env);
    const refused = await open.done;
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /bound to 127\.0\.0\.2, not 127\.0\.0\.1: set metrics\.token \(or PGCDC_CONSOLE_TOKEN\)/);

    const running = startCli(['run', '--config', config(port, `{ host: 127.0.0.2, port: ${port} }`)], { ...env, PGCDC_CONSOLE_TOKEN: TOKEN });
    const base = `http://127.0.0.2:${port}`;
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      await waitForStreaming(running);
      for (const path of ['/', '/assets/app.js', '/metrics', '/healthz', '/readyz', '/api/overview', '/api/dead-letters', '/api/slots', '/api/tail']) {
        const response = await fetch(`${base}${path}`);
        assert.equal(response.status, 401, `${path} without a token`);
        const wrong = await fetch(`${base}${path}`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
        assert.equal(wrong.status, 401, `${path} with a wrong token`);
      }
      const post = await fetch(`${base}/api/snapshots`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"pipeline":"console","action":"pause"}' });
      assert.equal(post.status, 401);
      const auth = { authorization: `Bearer ${TOKEN}` };
      assert.equal((await fetch(`${base}/metrics`, { headers: auth })).status, 200);
      const overview = await (await fetch(`${base}/api/overview`, { headers: auth })).json() as { csrf: string };
      // Actions need the page's CSRF value, and a cross-site Origin is refused even with it.
      const pause = (headers: Record<string, string>) => fetch(`${base}/api/snapshots`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', ...headers }, body: '{"pipeline":"console","action":"pause"}' });
      assert.equal((await pause({})).status, 403);
      assert.equal((await pause({ 'x-pgcdc-csrf': overview.csrf, origin: 'http://evil.example' })).status, 403);
      assert.equal((await pause({ 'x-pgcdc-csrf': overview.csrf })).status, 200);
      assert.equal((await pause({ 'x-pgcdc-csrf': overview.csrf, 'content-type': 'text/plain' })).status, 415);

      // The browser: /?token= once sets the cookie; the page then works without the token in the address.
      const opened = await page.goto(`${base}/?token=${TOKEN}`);
      assert.equal(new URL(page.url()).search, '', 'the token is dropped from the address');
      assert.equal(opened?.status(), 200);
      await page.goto(`${base}/#/dead-letters`);
      const decision = page.getByTestId('dead-letters-console').locator('tr[data-line="1"] [data-testid=decision]');
      assert.match(await decision.innerText(), /^retried/, 'the decision survived the restart');
      // The token itself appears nowhere in what the console serves.
      const answers = await Promise.all(['/api/overview', '/api/dead-letters', '/api/slots'].map(async (p) => (await fetch(`${base}${p}`, { headers: auth })).text()));
      assert.ok(answers.every((a) => !a.includes(TOKEN)));
    } finally {
      await page.close();
      await stopGracefully(running);
    }
  });

  test('two pipelines in one process: /metrics answers with each family once and both slots, the overview has both', async () => {
    const port = await freePort();
    const pipeline = (slot: string) => `  - source: { url: "\${DATABASE_URL}", slot: ${slot}, publication: console_pub, statusInterval: 200ms }
    snapshot: { mode: never }
    sink: { type: file, path: "${join(dir, `${slot}.jsonl`)}" }
    heartbeat: false
`;
    const yaml = write('two.yaml', `pipelines:\n${pipeline('two_a')}${pipeline('two_b')}metrics: { port: ${port} }\n`);
    const running = startCli(['run', '--config', yaml], { DATABASE_URL: server.url() });
    try {
      await eventually('both pipelines streaming', async () => (running.stderr().match(/streaming slot two_/g) ?? []).length, (n) => n === 2, 30_000);
      await server.query(`INSERT INTO orders VALUES (400001, 'both')`);
      await eventually('the insert in both files', async () => ['two_a', 'two_b'].map((s) => jsonLines<ChangeEvent>(join(dir, `${s}.jsonl`)).filter((e) => e.after?.id === 400001).length).join(), (n) => n === '1,1');
      // A line is in the file a moment before its group is confirmed and counted: read /metrics until both count it.
      const counted = (text: string, slot: string) => new RegExp(`^pgcdc_sink_records_total\\{slot="${slot}",sink="file",table="public\\.orders"\\} [1-9]`, 'm').test(text);
      const text = await eventually('both slots counted in /metrics', async () => {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`);
        assert.equal(response.status, 200, 'prom-client alone answered 500 here');
        return response.text();
      }, (t) => counted(t, 'two_a') && counted(t, 'two_b'), 5_000);
      assert.equal(text.split('\n').filter((l) => l.startsWith('# HELP pgcdc_events_total ')).length, 1);
      const overview = await (await fetch(`http://127.0.0.1:${port}/api/overview`)).json() as { pipelines: Array<{ name: string; events: number }> };
      assert.deepEqual(overview.pipelines.map((p) => p.name), ['two_a', 'two_b']);
    } finally {
      await stopGracefully(running);
    }
  });

  test('bound to loopback without a token, requests that name another host are refused (DNS rebinding)', async () => {
    const port = await freePort();
    const running = startCli(['run', '--config', config(port, `{ port: ${port} }`)], { DATABASE_URL: server.url() });
    try {
      await waitForStreaming(running);
      const status = (host: string) => new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/api/overview', headers: { host } }, (res) => { res.resume(); resolve(res.statusCode!); });
        req.on('error', reject);
        req.end();
      });
      assert.equal(await status(`127.0.0.1:${port}`), 200);
      assert.equal(await status(`localhost:${port}`), 200);
      assert.equal(await status(`rebound.example:${port}`), 403);
    } finally {
      await stopGracefully(running);
    }
  });
});
