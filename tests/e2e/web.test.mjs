// End-to-end tests of the web app in Debian's headless Chromium, driven by playwright-core, against
// `sluice serve --site dist` + the OpenSearch test server + the S3-like object server (scripts/e2e.sh starts them).
// Screenshots go to target/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const SITE = process.env.SLUICE_E2E_SITE;
const OBJECTS = process.env.SLUICE_E2E_OBJECTS;
const RECORDS = Number(process.env.SLUICE_E2E_RECORDS);
// The sandbox plants one bad record in every 1000.
const GOOD = RECORDS - Math.floor(RECORDS / 1000);
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

async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 1100 } });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(SITE);
  await page.getByText('Engine check passed').waitFor();
  return { page, errors };
}

async function startImport(page, url, index, batchRecords = '500') {
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(url);
  await page.getByLabel('Index', { exact: true }).fill(index);
  await page.getByLabel('Id field (optional)').fill('id');
  await page.getByText('Advanced').click();
  await page.getByLabel('Batch size (records)').fill(batchRecords);
  await page.getByRole('button', { name: 'Import' }).click();
}

const job = (page) => page.locator('article.job').first();

test('an import completes; failed records are listed and counted', async () => {
  const { page, errors } = await openPage();
  await page.getByLabel('Presigned S3 URLs (one per line)').fill(`${OBJECTS}/sample/events.jsonl`);
  await page.getByLabel('Index', { exact: true }).fill('sample-complete');
  await page.screenshot({ path: `${SHOTS}/form.png` });
  await startImport(page, `${OBJECTS}/sample/events.jsonl`, 'sample-complete');
  await job(page).getByText('Importing').waitFor();
  await page.waitForTimeout(400);
  await page.screenshot({ path: `${SHOTS}/running.png` });
  await job(page).getByText('Completed', { exact: true }).waitFor({ timeout: 120_000 });
  assert.equal(await count('sample-complete'), GOOD);
  await job(page).getByRole('button', { name: 'Show failed records' }).click();
  const rows = job(page).locator('table.letters tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), RECORDS / 1000);
  assert.match(await rows.first().innerText(), /mapper_parsing_exception/);
  await page.screenshot({ path: `${SHOTS}/completed.png` });
  assert.deepEqual(errors, []);
});

test('a reload at about 30 % resumes by itself and the index is exact', async () => {
  const { page } = await openPage();
  await startImport(page, `${OBJECTS}/sample/events.json`, 'sample-reload');
  const bar = job(page).locator('progress');
  await page.waitForFunction((el) => Number(el.getAttribute('value')) >= 30, await bar.elementHandle(), { timeout: 60_000 });
  const before = Number(await bar.getAttribute('value'));
  assert.ok(before < 100, `still running at ${before} %`);
  await page.reload();
  const banner = page.locator('#resume-banner');
  await banner.waitFor({ timeout: 30_000 });
  assert.match(await banner.innerText(), /Resumed 1 interrupted import/);
  await page.screenshot({ path: `${SHOTS}/resume-banner.png` });
  await job(page).getByText('Completed', { exact: true }).waitFor({ timeout: 120_000 });
  assert.equal(await count('sample-reload'), GOOD, 'one document per good record: nothing lost, nothing twice');
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
  await job(page).getByText('Completed', { exact: true }).waitFor({ timeout: 120_000 });
  assert.equal(await count('sample-expired'), GOOD);
});

test('Pause answers at once during an import, and Resume finishes it exactly', async () => {
  const { page } = await openPage();
  await startImport(page, `${OBJECTS}/sample/events.jsonl`, 'sample-pause');
  const bar = job(page).locator('progress');
  await page.waitForFunction((el) => Number(el.getAttribute('value')) >= 10, await bar.elementHandle(), { timeout: 60_000 });
  const clicked = Date.now();
  await job(page).getByRole('button', { name: 'Pause' }).click();
  await job(page).getByText('Paused', { exact: true }).waitFor({ timeout: 10_000 });
  const pausedAfter = Date.now() - clicked;
  assert.ok(pausedAfter < 5_000, `paused ${pausedAfter} ms after the click`);
  const stopped = Number(await bar.getAttribute('value'));
  assert.ok(stopped < 100, `paused mid-import at ${stopped} %`);
  await job(page).getByRole('button', { name: 'Resume' }).click();
  await job(page).getByText('Completed', { exact: true }).waitFor({ timeout: 120_000 });
  assert.equal(await count('sample-pause'), GOOD);
});

test('with automatic resume turned off, a reloaded import waits for Resume', async () => {
  const { page } = await openPage();
  const setting = page.getByLabel('Resume interrupted imports automatically when this page opens');
  await setting.uncheck();
  await startImport(page, `${OBJECTS}/sample/events.json`, 'sample-manual');
  const bar = job(page).locator('progress');
  await page.waitForFunction((el) => Number(el.getAttribute('value')) >= 20, await bar.elementHandle(), { timeout: 60_000 });
  await page.reload();
  const banner = page.locator('#resume-banner');
  await banner.waitFor({ timeout: 30_000 });
  assert.match(await banner.innerText(), /1 interrupted import is waiting/);
  await job(page).getByText('Interrupted', { exact: false }).waitFor();
  await job(page).getByRole('button', { name: 'Resume' }).click();
  await job(page).getByText('Completed', { exact: true }).waitFor({ timeout: 120_000 });
  assert.equal(await count('sample-manual'), GOOD);
  await setting.check();
});
