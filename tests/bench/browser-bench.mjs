// The browser benchmark's driver (scripts/bench-browser.sh starts the servers). Prints figures; asserts nothing
// about time. Each import uses the page's defaults (batch size, 4 requests in flight; SLUICE_BENCH_BATCH_DOCS
// overrides the records per batch) and derived ids, like the native run it is compared with.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { chromium } from 'playwright-core';

const SITE = process.env.SLUICE_BENCH_SITE;
const OBJECTS = process.env.SLUICE_BENCH_OBJECTS;
const OPENSEARCH = process.env.SLUICE_BENCH_OPENSEARCH;

// The ceiling: the object's records as prebuilt `_bulk` bodies (5000 documents each, ids as the imports make),
// posted straight to the sink, 4 in flight, asking for the short answer Sluice asks for (engine
// `bulk::RESPONSE_FILTER_QUERY`). Bodies are built before the clock starts: this is what the sink and loopback can
// take, so an import near it is bounded by them, not by Sluice.
async function ceiling(key) {
  const text = Buffer.from(await (await fetch(`${OBJECTS}/sample/${key}`)).arrayBuffer());
  const bodies = [];
  let parts = [];
  let n = 0;
  let start = 0;
  for (let end = text.indexOf(10); start < text.length; end = text.indexOf(10, start)) {
    if (end < 0) end = text.length;
    if (end > start) {
      parts.push(Buffer.from(`{"index":{"_index":"bench-ceiling","_id":"c${n++}"}}\n`), text.subarray(start, end), Buffer.from('\n'));
      if (parts.length === 15000) { bodies.push(Buffer.concat(parts)); parts = []; }
    }
    start = end + 1;
  }
  if (parts.length) bodies.push(Buffer.concat(parts));
  const bytes = bodies.reduce((sum, body) => sum + body.length, 0);
  const started = Date.now();
  let next = 0;
  await Promise.all([0, 1, 2, 3].map(async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const response = await fetch(`${OPENSEARCH}/_bulk?filter_path=took%2Cerrors%2Citems.%2A.status%2Citems.%2A.error`, { method: 'POST', body,
        headers: { 'content-type': 'application/x-ndjson' } });
      if (!response.ok) throw new Error(`ceiling: ${response.status}`);
      await response.arrayBuffer();
    }
  }));
  return { seconds: (Date.now() - started) / 1000, docs: n, bodyBytes: bytes };
}

async function size(key) {
  const response = await fetch(`${OBJECTS}/sample/${key}`, { headers: { Range: 'bytes=0-0' } });
  return Number(response.headers.get('content-range').split('/')[1]);
}

async function count(index) {
  return (await (await fetch(`${SITE}${index}/_count`)).json()).count;
}

function watchLongTasks() {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push([entry.startTime, entry.duration]);
  }).observe({ type: 'longtask', buffered: true });
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--enable-precise-memory-info'],
});

// With SLUICE_BENCH_TRACE=1 each browser import records a Chromium trace, and every main-thread task over 50 ms is
// printed with what it spent its time on (garbage collection, script, style and layout, ...): the profile that says
// what makes a task long.
const PROFILE = Boolean(process.env.SLUICE_BENCH_PROFILE);
const TRACE = PROFILE || Boolean(process.env.SLUICE_BENCH_TRACE);
const TRACE_CATEGORIES = ['toplevel', 'devtools.timeline', 'v8', 'disabled-by-default-v8.gc', 'blink.user_timing',
  ...(PROFILE ? ['disabled-by-default-v8.cpu_profiler'] : [])];

// The renderer main thread's tasks over 50 ms in a trace file: wall time, the thread's CPU time within it (much less
// means the thread was waiting for a core, not working), what posted the task, and the time of the kinds of work
// nested in it (inclusive, largest first).
function longTasksInTrace(path) {
  const events = JSON.parse(readFileSync(path, 'utf8')).traceEvents;
  const threadName = new Map(events.filter((e) => e.ph === 'M' && e.name === 'thread_name')
    .map((e) => [`${e.pid}:${e.tid}`, e.args.name]));
  const onMain = events.filter((e) => threadName.get(`${e.pid}:${e.tid}`) === 'CrRendererMain' && e.ph === 'X');
  // Chromium names a task 'RunTask' or 'ThreadControllerImpl::RunTask' (one may wrap the other): outermost only.
  const long = onMain.filter((e) => ['RunTask', 'ThreadControllerImpl::RunTask'].includes(e.name) && e.dur > 50_000);
  const tasks = long.filter((t) => !long.some((o) => o !== t && o.ts <= t.ts && o.ts + o.dur >= t.ts + t.dur));
  const kinds = ['MajorGC', 'MinorGC', 'V8.GC_MARK_COMPACTOR', 'V8.GC_SCAVENGER', 'V8.GCFinalizeMC',
    'v8.callFunction', 'RunMicrotasks', 'EventDispatch', 'TimerFire', 'UpdateLayoutTree', 'Layout',
    'Paint', 'PrePaint', 'Commit', 'v8.compile', 'V8.DeoptimizeCode', 'ResourceReceivedData', 'ResourceFinish'];
  return tasks.map((task) => {
    const inside = onMain.filter((e) => e !== task && e.ts >= task.ts && e.ts + e.dur <= task.ts + task.dur);
    const spent = new Map();
    for (const event of inside) {
      if (kinds.includes(event.name)) spent.set(event.name, (spent.get(event.name) ?? 0) + event.dur / 1000);
    }
    const parts = [...spent].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([name, ms]) => `${name} ${ms.toFixed(0)} ms`);
    const mojo = inside.find((e) => e.args?.chrome_mojo_event_info)?.args.chrome_mojo_event_info.mojo_interface_tag;
    const from = mojo ?? `${task.args?.src_file?.split('/').pop() ?? '?'} ${task.args?.src_func ?? ''}`.trim();
    const cpu = task.tdur === undefined ? '?' : (task.tdur / 1000).toFixed(0);
    return `${(task.dur / 1000).toFixed(0)} ms (CPU ${cpu} ms), from ${from}: ${parts.join(', ') || 'no nested events'}`;
  });
}

// CPU seconds used so far by the processes taking part, by role (from /proc: user + system time of each live
// process; a process that exits takes its count along, so this is read before a browser context closes). On a
// machine of few cores the importer, Chromium's network service, the proxy and the sink share them: this says
// where an import's CPU goes, and whether the machine had any left.
function cpuSeconds(children = false) {
  const roles = {};
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let stat, args;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch { continue; }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / 100;
    const role = args.includes('--type=renderer') ? 'renderer (page + import worker)'
      : args.includes('--utility-sub-type=network') ? 'network service'
      : args.includes('chromium') ? 'other Chromium'
      : args.includes('sluice serve') ? 'proxy'
      : args.includes('sluice-sandbox') ? 'sink and objects'
      : args.includes('sluice import') ? 'native importer' : null;
    if (role) roles[role] = (roles[role] ?? 0) + seconds;
    // The importer has exited when this is read: its time is in this process's count of reaped children.
    if (children && pid === String(process.pid)) roles['native importer'] = (Number(fields[13]) + Number(fields[14])) / 100;
  }
  return roles;
}

function cpuSince(before, seconds, children = false) {
  const after = cpuSeconds(children);
  const parts = Object.entries(after).map(([role, total]) => [role, total - (before[role] ?? 0)])
    .filter(([, used]) => used >= 0.05);
  const used = parts.reduce((sum, [, s]) => sum + s, 0);
  return `${parts.map(([role, s]) => `${role} ${s.toFixed(1)}`).join(', ')}; ${used.toFixed(1)} CPU-s in ${seconds.toFixed(1)} s `
    + `of ${availableParallelism()} cores (${(used / seconds / availableParallelism() * 100).toFixed(0)} % busy)`;
}

// The resident memory of Chromium's renderer processes (the page and its worker run in one), from the OS: an upper
// bound that also counts Blink and V8 themselves. `performance.memory` does not exist in workers, so the worker's JS
// heap cannot be read the way the page's is.
function rendererResidentBytes() {
  const ps = spawnSync('ps', ['-eo', 'rss=,args='], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter((line) => line.includes('--type=renderer'))
    .reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[0]) * 1024, 0);
}

// The JS heaps of a page's dedicated workers, over the DevTools protocol (`performance.memory` does not exist in
// workers): the page's own CDP session auto-attaches to its workers (not flattened, so a worker is spoken to through
// Target.sendMessageToTarget), and Runtime.getHeapUsage answers with the worker's used V8 heap. Set up after the
// page has navigated: the navigation moves the page to another renderer process, which drops auto-attach.
async function watchWorkerHeaps(page) {
  const cdp = await page.context().newCDPSession(page);
  const workers = new Set();
  const answers = new Map();
  let nextId = 1;
  cdp.on('Target.attachedToTarget', (e) => { if (e.targetInfo.type === 'worker') workers.add(e.sessionId); });
  cdp.on('Target.detachedFromTarget', (e) => workers.delete(e.sessionId));
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const message = JSON.parse(e.message);
    // The V8 heap plus the ArrayBuffers' backing stores (downloaded chunks and bulk bodies live there).
    answers.get(message.id)?.((message.result?.usedSize ?? 0) + (message.result?.backingStorageSize ?? 0));
    answers.delete(message.id);
  });
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  return async () => {
    let used = 0;
    for (const sessionId of workers) {
      const id = nextId++;
      const answer = new Promise((resolve) => { answers.set(id, resolve); setTimeout(() => resolve(0), 1000); });
      await cdp.send('Target.sendMessageToTarget',
        { sessionId, message: JSON.stringify({ id, method: 'Runtime.getHeapUsage' }) }).catch(() => {});
      used += await answer;
    }
    return used;
  };
}

// With SLUICE_BENCH_PROFILE=1 the trace also holds V8's CPU samples: per thread of the renderer, the CPU its tasks
// used and the functions with the most self time.
function profileInTrace(path) {
  const events = JSON.parse(readFileSync(path, 'utf8')).traceEvents;
  const threadName = new Map(events.filter((e) => e.ph === 'M' && e.name === 'thread_name')
    .map((e) => [`${e.pid}:${e.tid}`, e.args.name]));
  const busy = new Map();
  const tasks = events.filter((e) => e.ph === 'X' && ['RunTask', 'ThreadControllerImpl::RunTask'].includes(e.name));
  for (const task of tasks) {
    const thread = `${threadName.get(`${task.pid}:${task.tid}`) ?? '?'} (${task.pid})`;
    if (!busy.has(thread)) busy.set(thread, []);
    busy.get(thread).push(task);
  }
  const lines = [];
  for (const [thread, list] of busy) {
    list.sort((x, y) => x.ts - y.ts);
    // Outermost tasks only: one may wrap the other.
    let end = -1, cpu = 0, wall = 0;
    for (const task of list) {
      if (task.ts < end) continue;
      end = task.ts + task.dur;
      cpu += (task.tdur ?? 0) / 1000;
      wall += task.dur / 1000;
    }
    if (wall > 50) lines.push(`${thread}: tasks ${wall.toFixed(0)} ms, CPU ${cpu.toFixed(0)} ms`);
  }
  // The sampler's chunks, by profile id: nodes arrive over several chunks.
  const profiles = new Map();
  for (const e of events.filter((e) => e.name === 'ProfileChunk')) {
    const key = `${e.pid}:${e.id}`;
    if (!profiles.has(key)) profiles.set(key, { thread: `${threadName.get(`${e.pid}:${e.tid}`) ?? '?'} (${e.pid})`, nodes: new Map(), self: new Map() });
    const profile = profiles.get(key);
    const data = e.args.data;
    for (const node of data.cpuProfile?.nodes ?? []) profile.nodes.set(node.id, node.callFrame);
    const samples = data.cpuProfile?.samples ?? [];
    samples.forEach((id, n) => profile.self.set(id, (profile.self.get(id) ?? 0) + (data.timeDeltas?.[n] ?? 0) / 1000));
  }
  for (const { thread, nodes, self } of profiles.values()) {
    const byName = new Map();
    for (const [id, ms] of self) {
      const frame = nodes.get(id) ?? {};
      const where = frame.url ? ` ${frame.url.split('/').pop()}:${frame.lineNumber + 1}:${frame.columnNumber + 1}` : '';
      const name = `${frame.functionName || '(anonymous)'}${where}`;
      byName.set(name, (byName.get(name) ?? 0) + ms);
    }
    const total = [...byName.values()].reduce((x, y) => x + y, 0);
    if (total < 50) continue;
    lines.push(`${thread}: ${total.toFixed(0)} ms sampled`);
    for (const [name, ms] of [...byName].sort((x, y) => y[1] - x[1]).slice(0, 20)) {
      lines.push(`  ${ms.toFixed(0).padStart(6)} ms ${(ms / total * 100).toFixed(1).padStart(5)} %  ${name}`);
    }
  }
  return lines;
}

// One import in a fresh profile. With `reloadAt`, the page is reloaded at that percentage and the time from the
// reload to the first resumed bulk request is measured.
async function inBrowser(key, index, reloadAt, localFile) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(watchLongTasks);
  await page.goto(SITE);
  await page.getByText('Engine check passed').waitFor({ state: 'attached' });
  const workerHeaps = await watchWorkerHeaps(page);
  if (localFile) {
    await page.getByLabel(/Or local files/).setInputFiles(localFile);
  } else {
    await page.getByLabel('Presigned S3 URLs (one per line)').fill(`${OBJECTS}/sample/${key}`);
  }
  await page.getByLabel('Index', { exact: true }).fill(index);
  if (process.env.SLUICE_BENCH_BATCH_DOCS) {
    await page.getByText('Advanced').click();
    await page.getByLabel('Batch size (records)').fill(process.env.SLUICE_BENCH_BATCH_DOCS);
  }
  // Memory is the page's JS heap and wasm plus its import worker's JS heap and wasm, added up at the same moment;
  // and, apart, the renderer processes' resident memory.
  const peak = { total: 0, page: 0, worker: 0, renderer: 0 };
  let longest = 0;
  // The requests the flow controller allowed at a time, as the card showed it at each sample.
  const windows = [];
  const sample = async () => {
    try {
      const [heap, wasm, tasks, card] = await page.evaluate(() => [performance.memory.usedJSHeapSize,
        window.sluiceWasmMemoryBytes?.() ?? 0, window.__longTasks.splice(0),
        document.querySelector('article.job')?.textContent ?? '']);
      const flow = /(\d+) requests at a time/.exec(card);
      if (flow) windows.push(Number(flow[1]));
      let inWorkers = await workerHeaps();
      for (const worker of page.workers()) {
        inWorkers += await worker.evaluate(() => self.sluiceWasmMemoryBytes?.() ?? 0).catch(() => 0);
      }
      if (heap + wasm + inWorkers > peak.total) Object.assign(peak, { total: heap + wasm + inWorkers, page: heap + wasm, worker: inWorkers });
      peak.renderer = Math.max(peak.renderer, rendererResidentBytes());
      longest = Math.max(longest, ...tasks.filter(([at]) => at >= since).map(([, ms]) => ms));
    } catch { /* the page is reloading */ }
  };
  // Only tasks that start during the import count (not the page's own start, whose entry may arrive late).
  let since = await page.evaluate(() => performance.now());
  const sampler = setInterval(sample, 250);
  const traceFile = `target/bench/trace-${index}.json`;
  if (TRACE) await browser.startTracing(page, { path: traceFile, categories: TRACE_CATEGORIES });
  const started = Date.now();
  const cpuBefore = cpuSeconds();
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  let resumeMs = null;
  const bar = page.locator('article.job').first().getByLabel('Progress of this import');
  if (reloadAt) {
    await page.waitForFunction(({ el, at }) => Number(el.getAttribute('aria-valuenow')) >= at,
      { el: await bar.elementHandle(), at: reloadAt }, { timeout: 3_600_000, polling: 100 });
    await sample();
    // Only requests after the new document committed count: the old page's worker may still send one while the
    // reload starts, which would measure nothing.
    let committed = false;
    page.once('framenavigated', () => { committed = true; });
    const firstBulk = new Promise((resolve) => page.on('request', (request) => {
      if (committed && request.method() === 'POST' && request.url().endsWith('/_bulk')) resolve(Date.now());
    }));
    const reloaded = Date.now();
    await page.reload();
    // A small object may be done before the reload: then no request comes, and the figure stays empty.
    const none = new Promise((resolve) => setTimeout(() => resolve(null), 60_000));
    const at = await Promise.race([firstBulk, none]);
    resumeMs = at === null ? 'none within 60 s (the import had finished)' : at - reloaded;
    // The reloaded page's own start is not part of the import.
    since = await page.evaluate(() => performance.now());
  }
  // Polled every 250 ms, not with a locator (which polls on every animation frame: on a machine of two cores that
  // CPU would be taken from the import being measured).
  await page.waitForFunction(() => [...(document.querySelector('article.job')?.querySelectorAll('*') ?? [])]
    .some((el) => el.children.length === 0 && el.textContent.trim() === 'Completed'), null,
  { timeout: 3_600_000, polling: 250 });
  const seconds = (Date.now() - started) / 1000;
  const cpu = cpuSince(cpuBefore, seconds);
  clearInterval(sampler);
  await sample();
  let traced = null;
  let profile = null;
  if (TRACE) {
    await browser.stopTracing();
    traced = longTasksInTrace(traceFile);
    if (PROFILE) profile = profileInTrace(traceFile);
  }
  await context.close();
  windows.sort((a, b) => a - b);
  const window = windows.length ? `${windows[0]}, median ${windows[windows.length >> 1]}, max ${windows.at(-1)}` : 'none seen';
  return { seconds, cpu, profile, longest, traced, window, peakMb: peak.total / 1e6, pageMb: peak.page / 1e6, workerMb: peak.worker / 1e6,
    rendererMb: peak.renderer / 1e6, resumeMs };
}

function native(key, index) {
  rmSync('target/bench/native', { recursive: true, force: true });
  const started = Date.now();
  const cpuBefore = cpuSeconds(true);
  const run = spawnSync('target/release/sluice', ['import', '--url', `${OBJECTS}/sample/${key}`, '--index', index,
    '--auto-ids', '--proxy', SITE.replace(/\/$/, ''), '--quiet', '--checkpoint', 'target/bench/native/checkpoint.json',
    '--dead-letters', 'target/bench/native/failed.ndjson'], { stdio: 'inherit' });
  // 3 = completed with failed records (the sandbox plants one in 1000).
  if (![0, 3].includes(run.status)) throw new Error(`sluice import exited with ${run.status}`);
  const seconds = (Date.now() - started) / 1000;
  return { seconds, cpu: cpuSince(cpuBefore, seconds, true) };
}

const rows = [];
// SLUICE_BENCH_ONLY_LOCAL=1 skips the object runs (with SLUICE_BENCH_LOCAL_MB: only the local file).
for (const key of process.env.SLUICE_BENCH_ONLY_LOCAL ? [] : ['events.jsonl', 'events.json']) {
  const bytes = await size(key);
  const tag = key.endsWith('jsonl') ? 'jsonl' : 'json';
  const page = await inBrowser(key, `bench-browser-${tag}`);
  const docs = await count(`bench-browser-${tag}`);
  const cli = native(key, `bench-native-${tag}`);
  const resumed = key.endsWith('jsonl') ? await inBrowser(key, `bench-resume-${tag}`, 90) : null;
  // The ceiling is measured on the JSON Lines object (the array holds the same records).
  const top = key.endsWith('jsonl') ? await ceiling(key) : rows[0]?.top;
  rows.push({ key, bytes, docs, page, cli, resumed, top });
}
// A large local file (SLUICE_BENCH_LOCAL_MB): the JSON Lines object repeated, picked through the file input.
let local = null;
if (process.env.SLUICE_BENCH_LOCAL_MB) {
  const path = 'target/bench/local.jsonl';
  const object = Buffer.from(await (await fetch(`${OBJECTS}/sample/events.jsonl`)).arrayBuffer());
  const file = openSync(path, 'w');
  for (let written = 0; written < Number(process.env.SLUICE_BENCH_LOCAL_MB) * 1048576; written += object.length) {
    writeSync(file, object);
  }
  closeSync(file);
  const run = await inBrowser(null, 'bench-local', null, path);
  local = { bytes: statSync(path).size, docs: await count('bench-local'), run };
  rmSync(path);
}
await browser.close();

const mbps = (bytes, seconds) => (bytes / seconds / 1e6).toFixed(1);
for (const { key, bytes, docs, page, cli, resumed, top } of rows) {
  console.log(`\n${key}: ${(bytes / 1e6).toFixed(0)} MB, ${docs} documents indexed`);
  console.log(`  browser: ${page.seconds.toFixed(1)} s, ${mbps(bytes, page.seconds)} MB/s, `
    + `${(docs / page.seconds).toFixed(0)} docs/s; longest main-thread task ${page.longest} ms `
    + `(0 = none over 50 ms); peak memory ${page.peakMb.toFixed(0)} MB (page ${page.pageMb.toFixed(0)} MB + `
    + `import worker ${page.workerMb.toFixed(0)} MB, JS heap + wasm each); renderer processes' resident memory at most `
    + `${page.rendererMb.toFixed(0)} MB`);
  console.log(`  requests at a time (the card, every 250 ms): min ${page.window}`);
  for (const line of page.traced ?? []) console.log(`  traced long task ${line}`);
  console.log(`  CPU seconds during the browser import: ${page.cpu}`);
  for (const line of page.profile ?? []) console.log(`  ${line}`);
  console.log(`  native sluice import: ${cli.seconds.toFixed(1)} s, ${mbps(bytes, cli.seconds)} MB/s`);
  console.log(`  CPU seconds during the native import: ${cli.cpu}`);
  console.log(`  browser / native: ${(cli.seconds / page.seconds * 100).toFixed(0)} %`);
  if (top) {
    // Over the object's bytes, like the imports (the bodies add action lines).
    const objectBytes = rows[0].bytes;
    console.log(`  ceiling (the JSON Lines records as prebuilt bodies straight to the sink, 4 in flight): `
      + `${top.seconds.toFixed(1)} s, ${mbps(objectBytes, top.seconds)} MB/s of the object, `
      + `${(top.docs / top.seconds).toFixed(0)} docs/s`);
  }
  if (resumed) {
    console.log(`  reload at 90 %: first resumed bulk request after the reload: ${resumed.resumeMs} ms; `
      + `longest task ${resumed.longest} ms; peak memory ${resumed.peakMb.toFixed(0)} MB`);
  }
}
if (local) {
  console.log(`\nlocal file: ${(local.bytes / 1e6).toFixed(0)} MB, ${local.docs} documents indexed`);
  console.log(`  browser: ${local.run.seconds.toFixed(1)} s, ${mbps(local.bytes, local.run.seconds)} MB/s; peak memory `
    + `${local.run.peakMb.toFixed(0)} MB (page ${local.run.pageMb.toFixed(0)} MB + import worker `
    + `${local.run.workerMb.toFixed(0)} MB); renderer resident at most ${local.run.rendererMb.toFixed(0)} MB`);
}
