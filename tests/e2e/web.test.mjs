// End-to-end tests of the web app in Debian's headless Chromium, driven by playwright-core, against
// `sluice serve --site dist` + the OpenSearch test server + the S3-like object server (scripts/e2e.sh starts them).
// The sandbox's control API shows the object server's request log (where each resumed download started), rewrites
// objects and injects faults. Screenshots go to target/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const SITE = process.env.SLUICE_E2E_SITE;
const TOKEN_SITE = process.env.SLUICE_E2E_TOKEN_SITE;
// The site served by the edge Worker in workerd, whose config.json names it as proxy and edge.
const EDGE_SITE = process.env.SLUICE_E2E_EDGE_SITE;
const OBJECTS = process.env.SLUICE_E2E_OBJECTS;
const CUT_OBJECTS = process.env.SLUICE_E2E_CUT_OBJECTS;
const CONTROL = process.env.SLUICE_E2E_CONTROL;
const MOTO_URL = process.env.SLUICE_E2E_MOTO_URL;
// The OpenSearch test server itself, to read documents back (the proxy lets no document read through).
const OPENSEARCH = process.env.SLUICE_E2E_OPENSEARCH;
const RECORDS = Number(process.env.SLUICE_E2E_RECORDS);
// The sandbox plants one bad record in every 1000.
const BAD = Math.floor(RECORDS / 1000);
const GOOD = RECORDS - BAD;
const SHOTS = 'target/screenshots';
mkdirSync(SHOTS, { recursive: true });

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); });

async function count(index) {
  const response = await fetch(`${SITE}${index}/_count`);
  return (await response.json()).count;
}

async function control(method, path, body) {
  const response = await fetch(`${CONTROL}${path}`, { method, body });
  assert.ok(response.ok, `control ${method} ${path}: ${response.status}`);
  return method === 'GET' ? response.json() : null;
}

async function objectBytes(key) {
  return Buffer.from(await (await fetch(`${OBJECTS}/sample/${key}`)).arrayBuffer());
}

// Records every main-thread task over 50 ms (PerformanceObserver 'longtask') from the first script on.
function watchLongTasks() {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push([entry.startTime, entry.duration]);
  }).observe({ type: 'longtask', buffered: true });
}

async function openPage(context, site = SITE) {
  context ??= await browser.newContext({ viewport: { width: 1100, height: 1100 } });
  const page = await context.newPage();
  await page.addInitScript(watchLongTasks);
  const errors = [];
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(site);
  // The engine's self-check sits in the closed Diagnostics section: passed, so out of the analyst's way.
  await page.locator('#engine-check.ok').waitFor({ state: 'attached' });
  return { page, errors, context };
}

async function startImport(page, urls, index, { idField = 'id', batchRecords = '500' } = {}) {
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(urls);
  await page.getByLabel('Index', { exact: true }).fill(index);
  await page.getByLabel('Id field (optional)').fill(idField);
  await page.getByText('Advanced').click();
  await page.getByLabel('Batch size (records)').fill(batchRecords);
  await page.getByRole('button', { name: 'Import', exact: true }).click();
}

const job = (page) => page.locator('article.job').first();
const jobBar = (page) => job(page).getByLabel('Progress of this import');

// The job card's bar is a two-layer progressbar (aria-valuenow: the part done); an edge job's is a <progress>.
async function barValue(page) {
  const bar = jobBar(page);
  return Number(await bar.getAttribute('aria-valuenow') ?? await bar.getAttribute('value'));
}

async function progressAtLeast(page, percent) {
  await page.waitForFunction(({ el, percent }) => Number(el.getAttribute('aria-valuenow') ?? el.getAttribute('value')) >= percent,
    { el: await jobBar(page).elementHandle(), percent }, { timeout: 90_000 });
  return barValue(page);
}

async function completed(page) {
  await job(page).getByText('Completed', { exact: true }).waitFor({ timeout: 180_000 });
}

// The committed offsets of the checkpoints in this browser profile, read straight from IndexedDB.
async function committedOffsets(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('sluice');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const read = db.transaction('checkpoints').objectStore('checkpoints').getAll();
      read.onerror = () => reject(read.error);
      read.onsuccess = () => {
        db.close();
        resolve(read.result.map((text) => JSON.parse(text).committed_offset));
      };
    };
  }));
}

// Reloads the page and returns the text of the banner it shows about interrupted imports.
async function reloadedBanner(page) {
  await page.reload();
  const banner = page.locator('#resume-banner');
  await banner.waitFor({ timeout: 30_000 });
  return banner.innerText();
}

// The Range headers of the GETs of `key` logged after the first `since` entries of the object server's log.
async function rangesSince(since, key) {
  const log = await control('GET', '/requests');
  return log.slice(since).filter(([path]) => path === `sample/${key}`).map(([, range]) => range);
}

// True when `n` is between two records of the sandbox's samples (JSON Lines, or an array with one element per line),
// not inside one: right after a newline, or right before a newline or a ",\n" separator.
function atRecordBoundary(bytes, n) {
  const [newline, comma] = [0x0a, 0x2c];
  return bytes[n - 1] === newline || bytes[n] === newline || (bytes[n] === comma && bytes[n + 1] === newline);
}

// The longest main-thread task (ms) that started between `since` and `until` (performance.now() readings).
async function maxLongTask(page, since = 0, until = Infinity) {
  return page.evaluate(([since, until]) => Math.max(0, ...window.__longTasks
    .filter(([at]) => at >= since && at <= until).map(([, ms]) => ms)), [since, until ?? Infinity]);
}

test('an import completes in the engine worker; failed records are listed and counted; the page stays responsive', async () => {
  const { page, errors } = await openPage();
  const workers = [];
  page.on('worker', (worker) => workers.push(worker.url()));
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(`${OBJECTS}/sample/events.jsonl`);
  await page.getByLabel('Index', { exact: true }).fill('sample-complete');
  await page.screenshot({ path: `${SHOTS}/form.png` });
  const importStarted = await page.evaluate(() => performance.now());
  await startImport(page, `${OBJECTS}/sample/events.jsonl`, 'sample-complete');
  await job(page).getByText('Importing').waitFor();
  await page.waitForTimeout(400);
  await page.screenshot({ path: `${SHOTS}/running.png` });
  await completed(page);
  const importEnded = await page.evaluate(() => performance.now());
  assert.equal(await count('sample-complete'), GOOD);
  await job(page).getByRole('button', { name: 'Show failed records' }).click();
  const rows = job(page).locator('table.letters tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), BAD);
  assert.match(await rows.first().innerText(), /mapper_parsing_exception/);
  await page.screenshot({ path: `${SHOTS}/completed.png` });
  assert.deepEqual(errors, []);
  assert.equal(workers.filter((url) => url.endsWith('/sluice-worker_loader.js')).length, 1, 'one worker ran the import');
  // Measured, not asserted (a timing in a test is noise): issue 5's benchmark measures this precisely.
  console.log(`longest main-thread task: ${await maxLongTask(page, 0, importStarted)} ms while the page loaded, `
    + `${await maxLongTask(page, importStarted, importEnded)} ms during the import, `
    + `${await maxLongTask(page, importEnded)} ms after it (0 = none over 50 ms)`);
});

for (const [percent, key] of [[30, 'events.json'], [70, 'events.jsonl']]) {
  test(`a reload at about ${percent} % resumes by itself from the committed offset; the index is exact`, async () => {
    const { page } = await openPage();
    const index = `sample-reload-${percent}`;
    await startImport(page, `${OBJECTS}/sample/${key}`, index);
    const before = await progressAtLeast(page, percent);
    assert.ok(before < 100, `still running at ${before} %`);
    const logged = (await control('GET', '/requests')).length;
    const committedBefore = Math.max(...await committedOffsets(page));
    assert.match(await reloadedBanner(page), /Resumed 1 interrupted import/);
    if (percent === 30) await page.screenshot({ path: `${SHOTS}/resume-banner.png` });
    await completed(page);
    assert.equal(await count(index), GOOD, 'one document per good record: nothing lost, nothing twice');
    // The object server saw a probe, then one download that started at the committed offset, not at 0.
    const ranges = await rangesSince(logged, key);
    assert.equal(ranges[0], 'bytes=0-0', `a probe first: ${ranges} (all since the mark: ${JSON.stringify((await control('GET', '/requests')).slice(logged))})`);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1])?.[1]);
    assert.ok(resumedAt >= committedBefore && resumedAt > 0,
      `resumed at byte ${resumedAt}; ${committedBefore} was committed before the reload`);
    assert.ok(atRecordBoundary(await objectBytes(key), resumedAt), `byte ${resumedAt} is between two records`);
    assert.equal(ranges.length, 2, `no other download of the object: ${ranges}`);
  });
}

test('from moto (a real S3 implementation) with a SigV4-presigned URL: reload mid-import, exact index', async () => {
  assert.match(MOTO_URL, /X-Amz-Signature=[0-9a-f]{64}/, 'a real presigned URL');
  const { page, errors } = await openPage();
  await startImport(page, MOTO_URL, 'sample-moto');
  await progressAtLeast(page, 40);
  await page.reload();
  await completed(page);
  assert.equal(await count('sample-moto'), GOOD);
  assert.doesNotMatch(await page.content(), /X-Amz-Signature/, 'the signature is never shown');
  assert.deepEqual(errors, []);
});

test('closing the tab and opening a new one lists the interrupted import and resumes it', async () => {
  const { page, context } = await openPage();
  await startImport(page, `${OBJECTS}/sample/events.jsonl`, 'sample-new-tab');
  await progressAtLeast(page, 25);
  await page.close();
  const { page: second } = await openPage(context);
  assert.match(await second.locator('#resume-banner').innerText(), /Resumed 1 interrupted import/);
  await job(second).getByText('sample-new-tab', { exact: false }).waitFor();
  await completed(second);
  assert.equal(await count('sample-new-tab'), GOOD);
  await context.close();
});

test('an expired URL asks for a fresh one, which continues the import', async () => {
  const { page } = await openPage();
  await startImport(page, `${OBJECTS}/sample/events.jsonl?X-Amz-Date=20200101T000000Z&X-Amz-Expires=60&X-Amz-Signature=0`, 'sample-expired');
  const alert = job(page).getByRole('alert');
  await alert.waitFor({ timeout: 30_000 });
  assert.match(await alert.innerText(), /expired/);
  assert.doesNotMatch(await page.content(), /X-Amz-Signature=0/, 'presigned URLs are shown redacted');
  await page.screenshot({ path: `${SHOTS}/error.png` });
  await job(page).getByLabel('Fresh presigned URL for the same object').fill(`${OBJECTS}/sample/events.jsonl`);
  await job(page).getByRole('button', { name: 'Continue with this URL' }).click();
  await completed(page);
  assert.equal(await count('sample-expired'), GOOD);
});

test('an object rewritten mid-import is refused with an explanation; Start over imports the new content', async () => {
  const original = await objectBytes('events.jsonl');
  await control('PUT', '/objects/sample/changing.jsonl', original);
  const { page } = await openPage();
  await startImport(page, `${OBJECTS}/sample/changing.jsonl`, 'sample-changed');
  await progressAtLeast(page, 20);
  await job(page).getByRole('button', { name: 'Pause' }).click();
  await job(page).getByText('Paused', { exact: true }).waitFor({ timeout: 10_000 });
  // The object is rewritten with one more record: another ETag and size.
  const extra = Buffer.from('{"id":"evt-extra","status":200,"message":"added later"}\n');
  await control('PUT', '/objects/sample/changing.jsonl', Buffer.concat([original, extra]));
  await job(page).getByRole('button', { name: 'Resume' }).click();
  const alert = job(page).getByRole('alert');
  await alert.waitFor({ timeout: 30_000 });
  assert.match(await alert.innerText(), /The object changed: .*(size|ETag) changed/s);
  await page.screenshot({ path: `${SHOTS}/changed.png` });
  await job(page).getByRole('button', { name: 'Start over' }).click();
  await completed(page);
  assert.equal(await count('sample-changed'), GOOD + 1, 'the new content, with ids from the records');
});

test('downloads cut mid-stream and 10 % of items refused with 429: the import completes exactly', async () => {
  await control('PUT', '/faults/opensearch', JSON.stringify({ item_429_rate: 0.1, latency_ms: 25 }));
  await control('PUT', '/faults/objects', JSON.stringify({ cut_after_bytes: 1_500_000, cuts: 6 }));
  try {
    const { page } = await openPage();
    const logged = (await control('GET', '/requests')).length;
    await startImport(page, `${CUT_OBJECTS}/sample/events.json`, 'sample-faults');
    await completed(page);
    assert.equal(await count('sample-faults'), GOOD);
    const figures = await job(page).locator('.figures').innerText();
    assert.match(figures, new RegExp(`${BAD} failed`));
    assert.doesNotMatch(figures, / 0 retried/, `429s were retried: ${figures}`);
    const resumed = (await rangesSince(logged, 'events.json')).filter((r) => /^bytes=[1-9]\d*-$/.test(r));
    assert.ok(resumed.length >= 1, `the cut downloads were resumed with Range: ${resumed}`);
  } finally {
    await control('PUT', '/faults/opensearch', JSON.stringify({ latency_ms: 25 }));
    await control('PUT', '/faults/objects', JSON.stringify({ cuts: 0 }));
  }
});

test('several URLs make one job: a gzip object and a JSON array, each with its own progress', async () => {
  await control('PUT', '/objects/sample/events.jsonl.gz', gzipSync(await objectBytes('events.jsonl')));
  const { page, errors } = await openPage();
  // No id field: ids derive from each object's name and offsets, so the two objects' records stay distinct.
  await startImport(page, `${OBJECTS}/sample/events.jsonl.gz\n${OBJECTS}/sample/events.json`, 'sample-several',
    { idField: '' });
  await job(page).getByText('and 1 more object').waitFor();
  await job(page).getByLabel(/Progress of .*events\.json$/).waitFor();
  // A gzip object's size in decompressed bytes is unknown, so the job's bar is indeterminate: wait on the figures.
  await job(page).locator('.figures').getByText(/[1-9]\d{3,} indexed/).waitFor({ timeout: 60_000 });
  await page.reload();
  await job(page).locator('.parts li.current').getByText(/events\.json$/).waitFor({ timeout: 60_000 });
  await page.screenshot({ path: `${SHOTS}/several.png` });
  await completed(page);
  assert.equal(await count('sample-several'), 2 * GOOD);
  assert.match(await job(page).locator('.figures').innerText(), new RegExp(`${2 * BAD} failed`));
  assert.deepEqual(errors.filter((e) => !/ERR_ABORTED|net::/.test(e)), []);
});

test('a local file: reload, pick it again (a wrong file is refused), and it resumes exactly', async () => {
  mkdirSync('target/e2e/wrong', { recursive: true });
  const file = 'target/e2e/local-events.jsonl';
  writeFileSync(file, await objectBytes('events.jsonl'));
  // Same name, other content: must not be taken for the original.
  writeFileSync('target/e2e/wrong/local-events.jsonl', await objectBytes('events.json'));
  const { page } = await openPage();
  await page.getByLabel(/Or local files/).setInputFiles(file);
  await page.getByText('Files: local-events.jsonl').waitFor();
  await startImport(page, '', 'sample-local');
  await progressAtLeast(page, 30);
  assert.match(await reloadedBanner(page), /pick the file again/);
  const pick = job(page).getByLabel('Pick local-events.jsonl again');
  await pick.setInputFiles('target/e2e/wrong/local-events.jsonl');
  const alert = job(page).getByRole('alert');
  await alert.getByText(/size changed/).waitFor({ timeout: 30_000 });
  await page.screenshot({ path: `${SHOTS}/local-file.png` });
  await job(page).getByLabel('Pick local-events.jsonl again').setInputFiles(file);
  await completed(page);
  assert.equal(await count('sample-local'), GOOD);
});

// The File System Access picker's dialog cannot be driven in headless Chromium, so the test stands in for the
// dialog: its `showOpenFilePicker` returns a real FileSystemFileHandle, of a file in the origin-private file system
// that holds the object's bytes. Everything after the dialog (storing the handle in IndexedDB, reopening it after a
// reload, the permission check) is the browser's own. With localStorage 'e2e-permission' = 'prompt', the browser
// behaves as for a file on disk whose permission lapsed: it asks until the analyst allows it.
function standInForTheFilePicker() {
  window.showOpenFilePicker = async () => {
    const root = await navigator.storage.getDirectory();
    return [await root.getFileHandle('local-events.jsonl')];
  };
  let asked = false;
  if (localStorage.getItem('e2e-permission') === 'prompt') {
    FileSystemHandle.prototype.queryPermission = async () => (asked ? 'granted' : 'prompt');
    FileSystemHandle.prototype.requestPermission = async () => { asked = true; window.__permissionAsked = true; return 'granted'; };
  }
}

// Writes the object `key`'s bytes to the origin-private file that the stand-in picker returns.
async function writePickerFile(page, key) {
  await page.evaluate(async (url) => {
    const bytes = await (await fetch(url)).arrayBuffer();
    const root = await navigator.storage.getDirectory();
    const writer = await (await root.getFileHandle('local-events.jsonl', { create: true })).createWritable();
    await writer.write(bytes);
    await writer.close();
  }, `${OBJECTS}/sample/${key}`);
}

// A fresh profile whose picker stands in for the dialog; the events.jsonl sample chosen with it and imported to `index`.
async function importThroughThePicker(index) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 1100 } });
  await context.addInitScript(standInForTheFilePicker);
  const { page } = await openPage(context);
  await writePickerFile(page, 'events.jsonl');
  await page.getByRole('button', { name: 'Choose files…' }).click();
  await page.getByText('Files: local-events.jsonl').waitFor();
  await startImport(page, '', index);
  return { page, context };
}

test('a local file chosen with the File System Access picker reopens after reloads without being picked again', async () => {
  const { page, context } = await importThroughThePicker('sample-local-handle');

  // Permission kept: the reload resumes by itself, nothing to pick.
  await progressAtLeast(page, 25);
  assert.match(await reloadedBanner(page), /Resumed 1 interrupted import/);
  await job(page).getByText('Importing', { exact: true }).waitFor({ timeout: 30_000 });
  const resumedAt = await progressAtLeast(page, 50);
  assert.ok(resumedAt < 100, `still running at ${resumedAt} %`);

  // Permission lapsed: the card asks for it, and one click continues.
  await page.evaluate(() => localStorage.setItem('e2e-permission', 'prompt'));
  await page.reload();
  const allow = job(page).getByRole('button', { name: 'Allow access to local-events.jsonl' });
  await allow.waitFor({ timeout: 30_000 });
  assert.match(await page.locator('#resume-banner').innerText(), /1 interrupted import of local files: allow access to the file below/);
  assert.match(await job(page).getByRole('alert').innerText(), /asks before this page may read local-events\.jsonl/);
  await job(page).screenshot({ path: `${SHOTS}/allow-access.png` });
  await allow.click();
  await completed(page);
  assert.equal(await page.evaluate(() => window.__permissionAsked), true);
  assert.equal(await count('sample-local-handle'), GOOD, 'nothing lost, nothing twice across two reloads');
  await context.close();
});

test('a changed file replaced by one picked by hand: after Start over and a reload, the old file is not reopened', async () => {
  const { page, context } = await importThroughThePicker('sample-local-replaced');
  await progressAtLeast(page, 20);
  // The file behind the stored handle changes; the reload reopens it and refuses it.
  await writePickerFile(page, 'events.json');
  await page.reload();
  await job(page).getByRole('alert').getByText(/size changed/).waitFor({ timeout: 30_000 });
  // The analyst picks a file by hand (a copy on disk: another file as far as the checkpoint can tell) and starts over.
  const copy = 'target/e2e/local-events.jsonl';
  writeFileSync(copy, await objectBytes('events.jsonl'));
  await job(page).getByLabel('Pick local-events.jsonl again').setInputFiles(copy);
  await job(page).getByRole('alert').getByText(/it was modified/).waitFor({ timeout: 30_000 });
  await job(page).getByRole('button', { name: 'Start over' }).click();
  await job(page).getByText('Importing', { exact: true }).waitFor({ timeout: 30_000 });
  await progressAtLeast(page, 20);
  // After a reload the page asks for the file picked by hand, instead of reopening the changed one behind the handle.
  assert.match(await reloadedBanner(page), /pick the file again/);
  await job(page).getByLabel('Pick local-events.jsonl again').setInputFiles(copy);
  await completed(page);
  assert.equal(await count('sample-local-replaced'), GOOD);
  await context.close();
});

test('two tabs on one job: the second shows live progress, never sends a bulk request, and takes over', async () => {
  // Slower bulk answers, so the import outlasts the checks.
  await control('PUT', '/faults/opensearch', JSON.stringify({ latency_ms: 150 }));
  try {
    const { page: first, context } = await openPage();
    await startImport(first, `${OBJECTS}/sample/events.jsonl`, 'sample-two-tabs');
    await progressAtLeast(first, 5);
    const second = await context.newPage();
    const bulkFromSecond = [];
    second.on('request', (request) => {
      if (request.method() === 'POST' && request.url().includes('/_bulk')) bulkFromSecond.push(Date.now());
    });
    await second.goto(SITE);
    await job(second).getByText('Running in another tab', { exact: false }).waitFor({ timeout: 30_000 });
    assert.match(await second.locator('#resume-banner').innerText(), /1 import is running in another tab/);
    const shown = async () => barValue(second);
    const before = await shown();
    await second.waitForTimeout(2_000);
    assert.ok(await shown() > before, 'live progress from the other tab');
    await second.screenshot({ path: `${SHOTS}/other-tab.png` });
    assert.deepEqual(bulkFromSecond, [], 'no bulk request from the second tab while the first runs the job');
    const closed = Date.now();
    await first.close();
    await completed(second);
    assert.equal(await count('sample-two-tabs'), GOOD);
    assert.ok(bulkFromSecond.length > 0 && bulkFromSecond[0] >= closed,
      'the second tab sent bulk requests only after the first closed');
    await context.close();
  } finally {
    await control('PUT', '/faults/opensearch', JSON.stringify({ latency_ms: 25 }));
  }
});

test('a checkpoint file: exported, refused when edited, continued in a fresh profile with a fresh URL', async () => {
  const { page, context } = await openPage();
  await startImport(page, `${OBJECTS}/sample/events.json?X-Amz-Signature=first`, 'sample-export');
  await progressAtLeast(page, 30);
  await job(page).getByRole('button', { name: 'Pause' }).click();
  await job(page).getByText('Paused', { exact: true }).waitFor({ timeout: 10_000 });
  await job(page).getByText('Checkpoint file').click();
  const [download] = await Promise.all([page.waitForEvent('download'),
    job(page).getByRole('button', { name: 'Export checkpoint' }).click()]);
  const text = readFileSync(await download.path(), 'utf8');
  assert.doesNotMatch(text, /X-Amz-Signature/, 'URLs are left out unless asked for');
  const exported = JSON.parse(text);
  const committed = exported.checkpoints[0].committed_offset;
  assert.ok(committed > 0);
  await context.close();

  // A fresh browser profile: nothing in IndexedDB.
  const { page: fresh, context: other } = await openPage();
  const input = fresh.getByLabel(/Continue an import exported from another browser/);
  const edited = structuredClone(exported);
  edited.checkpoints[0].settings.index = 'sample-elsewhere';
  writeFileSync('target/e2e/edited-checkpoint.json', JSON.stringify(edited));
  await input.setInputFiles('target/e2e/edited-checkpoint.json');
  await fresh.getByRole('alert').getByText(/were edited after it was written/).waitFor();
  writeFileSync('target/e2e/checkpoint.json', text);
  await input.setInputFiles('target/e2e/checkpoint.json');
  await job(fresh).getByLabel('Fresh presigned URL for the same object').waitFor({ timeout: 30_000 });
  const logged = (await control('GET', '/requests')).length;
  await job(fresh).getByLabel('Fresh presigned URL for the same object')
    .fill(`${OBJECTS}/sample/events.json?X-Amz-Signature=second`);
  await job(fresh).getByRole('button', { name: 'Continue with this URL' }).click();
  await completed(fresh);
  assert.equal(await count('sample-export'), GOOD);
  const ranges = await rangesSince(logged, 'events.json');
  assert.ok(ranges.includes(`bytes=${committed}-`), `resumed at the exported offset ${committed}: ${ranges}`);
  await other.close();

  // The same job as if it had completed 30 days ago: removed at the next page load (7 days by default).
  const old = structuredClone(exported);
  old.manifest.id = 'job-old-1';
  old.manifest.parts[0].id = 'job-old-1#0';
  Object.assign(old.checkpoints[0], { job_id: 'job-old-1#0', status: 'completed', updated_at_ms: Date.now() - 30 * 86_400_000 });
  writeFileSync('target/e2e/old-checkpoint.json', JSON.stringify(old));
  const { page: third, context: third_context } = await openPage();
  await third.getByLabel(/Continue an import exported from another browser/).setInputFiles('target/e2e/old-checkpoint.json');
  await job(third).getByText('Completed', { exact: true }).waitFor();
  await third.reload();
  await third.locator('#cleanup-notice').getByText(/Removed 1 completed import older than 7 days/).waitFor();
  assert.equal(await third.locator('article.job').count(), 0);
  await third.locator('#storage-figure').waitFor();
  await third_context.close();
});

test('Pause answers at once during an import, and Resume finishes it exactly', async () => {
  const { page } = await openPage();
  await startImport(page, `${OBJECTS}/sample/events.jsonl`, 'sample-pause');
  await progressAtLeast(page, 10);
  const clicked = Date.now();
  await job(page).getByRole('button', { name: 'Pause' }).click();
  await job(page).getByText('Paused', { exact: true }).waitFor({ timeout: 10_000 });
  const pausedAfter = Date.now() - clicked;
  assert.ok(pausedAfter < 5_000, `paused ${pausedAfter} ms after the click`);
  const stopped = await barValue(page);
  assert.ok(stopped < 100, `paused mid-import at ${stopped} %`);
  await job(page).getByRole('button', { name: 'Resume' }).click();
  await completed(page);
  assert.equal(await count('sample-pause'), GOOD);
});

test('an import worker that cannot load is explained on the card; Resume continues once it loads', async () => {
  const { page } = await openPage();
  // As if the site were deployed without the worker's files.
  const loader = '**/sluice-worker_loader.js';
  await page.route(loader, (route) => route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' }));
  await startImport(page, `${OBJECTS}/sample/events.jsonl`, 'sample-no-worker');
  const alert = job(page).getByRole('alert');
  await alert.getByText(/worker could not start/).waitFor({ timeout: 60_000 });
  assert.match(await alert.innerText(), /must serve sluice-worker_loader\.js, sluice-worker\.js and sluice-worker_bg\.wasm/);
  await job(page).screenshot({ path: `${SHOTS}/worker-missing.png` });
  await page.unroute(loader);
  await job(page).getByRole('button', { name: 'Resume' }).click();
  await completed(page);
  assert.equal(await count('sample-no-worker'), GOOD);
});

test('with automatic resume turned off, a reloaded import waits for Resume', async () => {
  const { page } = await openPage();
  const setting = page.getByLabel('Resume interrupted imports automatically when this page opens');
  await setting.uncheck();
  await startImport(page, `${OBJECTS}/sample/events.json`, 'sample-manual');
  await progressAtLeast(page, 20);
  assert.match(await reloadedBanner(page), /1 interrupted import is waiting/);
  await job(page).getByText('Interrupted', { exact: false }).waitFor();
  await job(page).getByRole('button', { name: 'Resume' }).click();
  await completed(page);
  assert.equal(await count('sample-manual'), GOOD);
  await setting.check();
});

test('a proxy that requires a token: the page asks for it, explains a refusal, and imports once it is given', async () => {
  const { page } = await openPage(undefined, TOKEN_SITE);
  const token = page.getByLabel(/Analyst token/);
  await token.waitFor();
  await startImport(page, `${OBJECTS}/sample/events.jsonl`, 'sample-token');
  const alert = job(page).getByRole('alert');
  await alert.waitFor({ timeout: 60_000 });
  assert.match(await alert.innerText(), /token/i);
  await token.fill('e2e-analyst-token');
  await job(page).getByRole('button', { name: 'Resume' }).click();
  await completed(page);
  assert.equal(await count('sample-token'), GOOD);
});

// Records for the repair tests: `bad(i)` ones have `status: "n/a"` where the mapping wants a number.
function statusRecords(total, bad) {
  let text = '';
  for (let i = 0; i < total; i++) {
    text += JSON.stringify({ id: `r${i}`, status: bad(i) ? 'n/a' : i, name: `name ${i}`, at: '2026-03-04T05:06:07Z' }) + '\n';
  }
  return text;
}

async function createIndex(index, mappings) {
  const response = await fetch(`${SITE}${index}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mappings }),
  });
  assert.ok(response.ok, `created ${index}: ${response.status} ${await response.text()}`);
}

async function previewFor(page, url, index) {
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(url);
  await page.getByLabel('Index', { exact: true }).fill(index);
  await page.getByLabel('Index', { exact: true }).press('Tab');
  await page.locator('#preview-summary').waitFor();
}

test('the preview shows a mapping conflict before Import; after a fix, Retry failed records makes the index exact', async () => {
  await control('PUT', '/objects/sample/conflict.jsonl', statusRecords(200, (i) => i % 20 === 3));
  await createIndex('sample-conflict', { properties: { status: { type: 'long' } } });
  const { page } = await openPage();
  await previewFor(page, `${OBJECTS}/sample/conflict.jsonl`, 'sample-conflict');
  const conflicts = page.locator('#conflicts');
  await conflicts.waitFor();
  assert.match(await conflicts.innerText(),
    /field `status` is `long` in sample-conflict; 10 of the 200 sampled records have text there \(e\.g\. "n\/a"\): those records will fail/);
  assert.equal(await conflicts.getAttribute('role'), 'alert');
  assert.match(await page.locator('#preview-summary').innerText(), /JSON Lines · 200 records sampled/);
  await page.locator('#preview-table thead th', { hasText: 'status' }).waitFor();
  assert.equal(await page.locator('#preview-table tbody tr').count(), 20);
  assert.match(await page.locator('#field-list').innerText(), /status[\s\S]*keyword 10, long 190/);
  await page.screenshot({ path: `${SHOTS}/preview-conflict.png`, fullPage: true });

  // Import anyway: ten records fail, grouped by their reason.
  await page.getByLabel('Id field (optional)').fill('id');
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await completed(page);
  assert.equal(await count('sample-conflict'), 190);
  await job(page).getByText('`status` is not a number (10)').waitFor();
  assert.match(await job(page).locator('.summary').innerText(), /Done in .* 190 indexed, 10 failed/);

  // The fix: keep the text under another name. Only the ten are sent again, with their ids.
  const before = (await control('GET', '/counts')).items;
  await job(page).locator('.repair-rename').fill('status=status_text');
  await job(page).getByRole('button', { name: 'Retry failed records' }).click();
  await job(page).getByText('Retry finished: 10 indexed, 0 still failing.').waitFor({ timeout: 30_000 });
  assert.equal((await control('GET', '/counts')).items - before, 10, 'only the failed records were sent');
  assert.equal(await count('sample-conflict'), 200, 'every record once');
  assert.equal(await job(page).locator('.failed-groups').count(), 0, 'no failed record left');
  await page.screenshot({ path: `${SHOTS}/repair.png`, fullPage: true });
});

test('a reload during Retry failed records resumes the retry; nothing lost, nothing twice', async () => {
  await control('PUT', '/objects/sample/many-failures.jsonl', statusRecords(3000, (i) => i % 2 === 0));
  await createIndex('sample-retry-reload', { properties: { status: { type: 'long' } } });
  const { page } = await openPage();
  await startImport(page, `${OBJECTS}/sample/many-failures.jsonl`, 'sample-retry-reload');
  await completed(page);
  assert.equal(await count('sample-retry-reload'), 1500);
  await control('PUT', '/faults/opensearch', JSON.stringify({ latency_ms: 700 }));
  try {
    await job(page).locator('.repair-drop').fill('status');
    await job(page).getByRole('button', { name: 'Retry failed records' }).click();
    await job(page).getByText('Retrying failed records: 500 of 1500').waitFor({ timeout: 30_000 });
    await page.reload();
    await job(page).getByText(/Retry finished: \d+ indexed, 0 still failing\./).waitFor({ timeout: 60_000 });
  } finally {
    await control('PUT', '/faults/opensearch', JSON.stringify({ latency_ms: 25 }));
  }
  assert.equal(await count('sample-retry-reload'), 3000, 'every record once after the interrupted retry');
  assert.equal(await job(page).locator('.failed-groups').count(), 0);
});

test('a CSV read as JSON Lines is refused by the wrong-file guard, which says to choose CSV; Import sends nothing', async () => {
  let csv = 'id,name,price\n';
  for (let i = 0; i < 500; i++) csv += `${i},item ${i},${i}.5\n`;
  await control('PUT', '/objects/sample/small-export.csv', csv);
  const { page } = await openPage();
  const bulkBefore = (await control('GET', '/counts')).bulk_requests;
  const logged = (await control('GET', '/requests')).length;
  await page.getByLabel('Format').selectOption('jsonl');
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(`${OBJECTS}/sample/small-export.csv`);
  await page.getByLabel('Index', { exact: true }).fill('sample-csv-wrong');
  const wrong = page.locator('#wrong-file');
  await wrong.waitFor();
  assert.match(await wrong.innerText(),
    /this looks like CSV with columns 'id', 'name', 'price': choose the format CSV \(or auto\) to import it/);
  assert.equal(await wrong.getAttribute('role'), 'alert');
  assert.deepEqual(await rangesSince(logged, 'small-export.csv'), ['bytes=0-262143'], 'the preview reads the head only');
  await page.screenshot({ path: `${SHOTS}/wrong-file.png` });
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.getByText(/Not imported: .*looks like CSV/).waitFor();
  assert.equal(await page.locator('article.job').count(), 0, 'no import started');
  assert.equal((await control('GET', '/counts')).bulk_requests, bulkBefore, 'not a single bulk request');
  // With the format back on auto, the same object is previewed as CSV, its columns typed.
  await page.getByLabel('Format').selectOption('auto');
  await page.getByLabel('Type of column price').waitFor();
  assert.equal(await page.locator('#wrong-file').count(), 0);
});

test('an index that does not exist is created from the proposed mapping, with a type changed by the analyst', async () => {
  await control('PUT', '/objects/sample/fresh.jsonl', statusRecords(50, () => false));
  const { page } = await openPage();
  await previewFor(page, `${OBJECTS}/sample/fresh.jsonl`, 'sample-created');
  await page.getByText('The index sample-created does not exist yet').waitFor();
  await page.getByLabel('Type of status').selectOption('keyword');
  await page.getByRole('button', { name: 'Create index sample-created' }).click();
  await page.getByText('The sample fits the mapping of sample-created.').waitFor();
  const mapping = await (await fetch(`${SITE}sample-created/_mapping`)).json();
  const properties = mapping['sample-created'].mappings.properties;
  assert.equal(properties.status.type, 'keyword', 'the analyst\'s choice');
  assert.equal(properties.at.type, 'date', 'ISO-8601 strings are dates');
  assert.equal(properties.name.type, 'keyword');

  // Transforms from the field list: rename a field, add a constant; the documents carry them.
  await page.getByLabel('Rename name to').fill('label');
  await page.getByLabel('Rename name to').press('Tab');
  await page.getByLabel('Name of the constant field').fill('region');
  await page.getByLabel('Name of the constant field').press('Tab');
  await page.getByLabel('Value of the constant field').fill('EU');
  await page.getByLabel('Value of the constant field').press('Tab');
  await page.getByLabel('Id field (optional)').fill('id');
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await completed(page);
  assert.equal(await count('sample-created'), 50);
  const doc = await (await fetch(`${OPENSEARCH}/sample-created/_doc/r7`)).json();
  assert.deepEqual(doc._source, { id: 'r7', status: 7, at: '2026-03-04T05:06:07Z', label: 'name 7', region: 'EU' });
});

test('the ingest pipeline field offers the cluster\'s pipelines by name', async () => {
  const put = await fetch(`${OPENSEARCH}/_ingest/pipeline/add-geo`, {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'adds geo fields', processors: [{ set: { field: 'geo', value: 'x' } }] }),
  });
  assert.ok(put.ok);
  const { page } = await openPage();
  const option = page.locator('#pipelines option[value="add-geo"]');
  await option.waitFor({ state: 'attached' });
  assert.equal(await option.textContent(), 'adds geo fields');
});

test('an import handed to the edge keeps going with no tab open; a tab opened later shows it completed', async () => {
  const { page, context, errors } = await openPage(undefined, EDGE_SITE);
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(`${OBJECTS}/sample/events.jsonl`);
  await page.getByLabel('Index', { exact: true }).fill('sample-edge');
  await page.getByLabel('Id field (optional)').fill('id');
  await page.getByLabel('Run at the edge (keeps going when this tab closes)').check();
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  const card = page.locator('article.edge-job').first();
  await card.getByText('Running at the edge', { exact: false }).waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1500);
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/edge-running.png` });
  assert.deepEqual(errors, []);
  await page.close();
  // No tab is open: the count still grows, since the edge runs the import.
  const closedAt = await count('sample-edge');
  let later = closedAt;
  for (let i = 0; i < 100 && later <= closedAt; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    later = await count('sample-edge');
  }
  assert.ok(later > closedAt, `indexed ${closedAt} when the tab closed, ${later} later with no tab open`);
  const { page: second } = await openPage(context, EDGE_SITE);
  const again = second.locator('article.edge-job').first();
  await again.getByText('Completed', { exact: true }).waitFor({ timeout: 180_000 });
  assert.equal(await count('sample-edge'), GOOD, 'one document per good record');
  assert.match(await again.innerText(), new RegExp(`${GOOD} indexed · ${BAD} failed`));
  await again.getByRole('button', { name: 'Download failed records' }).waitFor();
  await again.scrollIntoViewIfNeeded();
  await second.screenshot({ path: `${SHOTS}/edge-completed.png` });
  await context.close();
});

test('failed records of an edge job are retried at the edge after a fix, from its card', async () => {
  await control('PUT', '/objects/sample/edge-conflict.jsonl', statusRecords(300, (i) => i % 30 === 4));
  await createIndex('sample-edge-conflict', { properties: { status: { type: 'long' } } });
  const { page, errors, context } = await openPage(undefined, EDGE_SITE);
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(`${OBJECTS}/sample/edge-conflict.jsonl`);
  await page.getByLabel('Index', { exact: true }).fill('sample-edge-conflict');
  await page.getByLabel('Id field (optional)').fill('id');
  await page.getByLabel('Run at the edge (keeps going when this tab closes)').check();
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  const card = page.locator('article.edge-job', { hasText: 'edge-conflict.jsonl' }).first();
  await card.getByText('Completed', { exact: true }).waitFor({ timeout: 60_000 });
  await card.getByText('290 indexed · 10 failed', { exact: false }).waitFor();
  assert.equal(await count('sample-edge-conflict'), 290);
  await card.getByText('`status` is not a number (10)').waitFor();
  assert.equal(await card.locator('.repair-types').count(), 0, 'no column types to change for JSON sources');
  // The fix: keep the text under another name; only the ten are sent again, at the edge, with their ids.
  await card.locator('.repair-rename').fill('status=status_text');
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/edge-repair-form.png` });
  await card.getByRole('button', { name: 'Retry failed records' }).click();
  await card.getByText('Retry finished: 10 indexed, 0 still failing.').waitFor({ timeout: 30_000 });
  await card.getByText('300 indexed · 0 failed', { exact: false }).waitFor();
  assert.equal(await count('sample-edge-conflict'), 300, 'every record once');
  assert.equal(await card.locator('.edge-repair').count(), 0, 'no failed record left to retry');
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/edge-repair.png` });
  assert.deepEqual(errors, []);
  await context.close();
});

test('an edge CSV job whose later rows do not fit a column\'s inferred type: retried at the edge with the type changed', async () => {
  const lines = ['id,code,city'];
  let bad = 0;
  for (let i = 0; i < 20_000; i++) {
    // Past the preview's head, some codes are not numbers.
    const late = i >= 15_000 && i % 50 === 0;
    if (late) bad++;
    lines.push(`c${i},${late ? `A-${i}` : 10_000 + i},city ${i % 40}`);
  }
  await control('PUT', '/objects/sample/edge-codes.csv', lines.join('\n') + '\n');
  const index = 'sample-edge-csv-repair';
  await createIndex(index, { properties: { code: { type: 'keyword' } } });
  const { page, errors, context } = await openPage(undefined, EDGE_SITE);
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(`${OBJECTS}/sample/edge-codes.csv`);
  const codeType = page.getByLabel('Type of column code');
  await codeType.waitFor({ timeout: 30_000 });
  assert.equal(await codeType.inputValue(), 'long', 'the head holds numbers only');
  await page.getByLabel('Index', { exact: true }).fill(index);
  await page.getByLabel('Id field (optional)').fill('id');
  await page.getByLabel('Run at the edge (keeps going when this tab closes)').check();
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  const card = page.locator('article.edge-job', { hasText: 'edge-codes.csv' }).first();
  await card.getByText('Completed', { exact: true }).waitFor({ timeout: 60_000 });
  assert.equal(await count(index), 20_000 - bad);
  await card.getByText(`\`code\` is not a whole number (${bad})`).waitFor();
  const types = card.locator('.repair-types');
  assert.equal(await types.getAttribute('placeholder'), 'columns: id, code, city', 'the CSV columns are named');
  await types.fill('cod=keyword');
  await card.getByRole('button', { name: 'Retry failed records' }).click();
  await card.getByText("a type was chosen for the column 'cod', which the source does not have (its columns: 'id', 'code', 'city')").waitFor();
  const before = (await control('GET', '/counts')).items;
  await types.fill('code=keyword');
  await card.getByRole('button', { name: 'Retry failed records' }).click();
  await card.getByText(`Retry finished: ${bad} indexed, 0 still failing.`).waitFor({ timeout: 30_000 });
  assert.equal((await control('GET', '/counts')).items - before, bad, 'only the failed rows were sent');
  assert.equal(await count(index), 20_000, 'every row once');
  const doc = await (await fetch(`${OPENSEARCH}/${index}/_doc/c15000`)).json();
  assert.equal(doc._source.code, 'A-15000');
  assert.deepEqual(errors, []);
  await context.close();
});

// A CSV export of `rows` rows; one in 1000 has a cell missing (a dead letter). Zips are 5 digits, so inferred long.
function csvExport(rows) {
  const lines = ['id,name,zip,price,active'];
  let good = 0;
  for (let i = 0; i < rows; i++) {
    if (i % 1000 === 999) {
      lines.push(`r${i},"short, a cell missing",${10000 + (i % 90000)},1.5`);
    } else {
      good++;
      const name = i % 9 === 0 ? `"Smith, J. ""${i}""\nsecond line"` : `name ${i}`;
      lines.push(`r${i},${name},${10000 + (i % 90000)},${i % 100}.5,${i % 2 === 0}`);
    }
  }
  return { bytes: Buffer.from(lines.join('\r\n') + '\r\n'), good };
}

test('a CSV URL: the preview shows the inferred column types, a type change takes effect, a reload resumes exactly', async () => {
  const { bytes, good } = csvExport(150_000);
  await control('PUT', '/objects/sample/export.csv', bytes);
  const { page, errors } = await openPage();
  const index = 'sample-csv';
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(`${OBJECTS}/sample/export.csv`);
  const zipType = page.getByLabel('Type of column zip');
  await zipType.waitFor({ timeout: 30_000 });
  assert.equal(await zipType.inputValue(), 'long', 'five-digit zips are inferred as numbers');
  assert.equal(await page.getByLabel('Type of column price').inputValue(), 'double');
  assert.equal(await page.getByLabel('Type of column active').inputValue(), 'boolean');
  assert.match(await page.locator('#preview-summary').innerText(), /^CSV/);
  await zipType.selectOption('keyword');
  // The sample is made again with the chosen type: the column says so and offers to infer it again.
  await page.locator('#column-types').getByRole('button', { name: 'infer again' }).waitFor();
  assert.equal(await page.getByLabel('Type of column zip').inputValue(), 'keyword');
  await page.screenshot({ path: `${SHOTS}/csv-preview.png`, fullPage: true });
  await startImport(page, `${OBJECTS}/sample/export.csv`, index);
  const before = await progressAtLeast(page, 35);
  assert.ok(before < 100, `still running at ${before} %`);
  const logged = (await control('GET', '/requests')).length;
  const committedBefore = Math.max(...await committedOffsets(page));
  assert.match(await reloadedBanner(page), /Resumed 1 interrupted import/);
  await completed(page);
  assert.equal(await count(index), good, 'one document per good row: nothing lost, nothing twice');
  const ranges = await rangesSince(logged, 'export.csv');
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1])?.[1]);
  assert.ok(resumedAt >= committedBefore && resumedAt > 0,
    `resumed at byte ${resumedAt} (${ranges}); ${committedBefore} was committed before the reload`);
  // A row's span ends before its line break: the resume starts at a row's end, not at the header.
  assert.ok(bytes[resumedAt] === 0x0d || bytes[resumedAt - 1] === 0x0a, `byte ${resumedAt} is between two rows`);
  const doc = await (await fetch(`${OPENSEARCH}/${index}/_doc/r9`)).json();
  assert.deepEqual(doc._source, { id: 'r9', name: 'Smith, J. "9"\nsecond line', zip: '10009', price: 9.5, active: false });
  await job(page).getByRole('button', { name: 'Show failed records' }).click();
  const rows = job(page).locator('table.letters tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 100, "the first 100 of the 150 are listed");
  assert.match(await rows.first().innerText(), /the row has 4 cells, the header has 5/);
  assert.deepEqual(errors, []);
});

test('a CSV column inferred as numbers whose later rows hold text: Retry failed records with its type changed', async () => {
  const lines = ['id,code,city'];
  let bad = 0;
  for (let i = 0; i < 20_000; i++) {
    // Past the preview's head (about 256 KiB), some codes are not numbers.
    const late = i >= 15_000 && i % 50 === 0;
    if (late) bad++;
    lines.push(`c${i},${late ? `A-${i}` : 10_000 + i},city ${i % 40}`);
  }
  await control('PUT', '/objects/sample/codes.csv', lines.join('\n') + '\n');
  const index = 'sample-csv-repair';
  await createIndex(index, { properties: { code: { type: 'keyword' } } });
  const { page, errors } = await openPage();
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(`${OBJECTS}/sample/codes.csv`);
  const codeType = page.getByLabel('Type of column code');
  await codeType.waitFor({ timeout: 30_000 });
  assert.equal(await codeType.inputValue(), 'long', 'the head holds numbers only');
  await startImport(page, `${OBJECTS}/sample/codes.csv`, index);
  await completed(page);
  assert.equal(await count(index), 20_000 - bad);
  await job(page).getByText(`\`code\` is not a whole number (${bad})`).waitFor();

  const types = job(page).locator('.repair-types');
  await types.fill('cod=keyword');
  await job(page).getByRole('button', { name: 'Retry failed records' }).click();
  await job(page).getByText("a type was chosen for the column 'cod', which the source does not have (its columns: 'id', 'code', 'city')").waitFor();
  await job(page).screenshot({ path: `${SHOTS}/csv-repair-form.png` });
  const before = (await control('GET', '/counts')).items;
  await types.fill('code=keyword');
  await job(page).getByRole('button', { name: 'Retry failed records' }).click();
  await job(page).getByText(`Retry finished: ${bad} indexed, 0 still failing.`).waitFor({ timeout: 30_000 });
  assert.equal((await control('GET', '/counts')).items - before, bad, 'only the failed rows were sent');
  assert.equal(await count(index), 20_000, 'every row once');
  const doc = await (await fetch(`${OPENSEARCH}/${index}/_doc/c15000`)).json();
  assert.deepEqual(doc._source, { id: 'c15000', code: 'A-15000', city: 'city 0' });
  await page.screenshot({ path: `${SHOTS}/csv-repair.png`, fullPage: true });
  assert.deepEqual(errors, []);
});

test('a local TSV file is recognised, previewed with its types and imported', async () => {
  const lines = ['code\tcity\tpopulation'];
  for (let i = 0; i < 3000; i++) lines.push(`${String(i).padStart(5, '0')}\tcity ${i}\t${1000 + i * 7}`);
  const file = 'target/e2e/cities.tsv';
  writeFileSync(file, lines.join('\n') + '\n');
  const { page } = await openPage();
  await page.getByLabel(/Or local files/).setInputFiles(file);
  const codeType = page.getByLabel('Type of column code');
  await codeType.waitFor({ timeout: 30_000 });
  assert.equal(await codeType.inputValue(), 'keyword', 'codes with leading zeros stay text');
  assert.equal(await page.getByLabel('Type of column population').inputValue(), 'long');
  assert.match(await page.locator('#preview-summary').innerText(), /^TSV/);
  await startImport(page, '', 'sample-tsv', { idField: 'code' });
  await completed(page);
  assert.equal(await count('sample-tsv'), 3000);
  const doc = await (await fetch(`${OPENSEARCH}/sample-tsv/_doc/00042`)).json();
  assert.deepEqual(doc._source, { code: '00042', city: 'city 42', population: 1294 });
});
