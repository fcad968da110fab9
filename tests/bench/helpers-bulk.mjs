// opensearch-js's `helpers.bulk` on a JSON Lines file, for the flow benchmark (crates/server/benches/flow.rs) to
// compare with `sluice import` on the same capacity-limited test server. Prints one JSON line: seconds, the
// helper's own stats, and the error that stopped it, if one did. Usage:
//   node tests/bench/helpers-bulk.mjs <opensearch url> <file.jsonl> <index> <concurrency> <flush bytes>
// The helper is used as its documentation shows: documents parsed from the file, `_id` from the `id` field, items
// rejected with 429 retried (`retries` 3, `wait` 5 s, its defaults); a whole request answered 429 fails the run.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Client } from '@opensearch-project/opensearch';

const [url, file, index, concurrency, flushBytes] = process.argv.slice(2);
const client = new Client({ node: url });
const started = Date.now();
let stats = null;
let error = null;
let dropped = 0;
try {
  stats = await client.helpers.bulk({
    datasource: (async function* documents() {
      for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
        if (line.trim()) yield JSON.parse(line);
      }
    })(),
    onDocument: (document) => ({ index: { _index: index, _id: String(document.id) } }),
    concurrency: Number(concurrency),
    flushBytes: Number(flushBytes),
    flushInterval: 30_000,
    onDrop: () => { dropped += 1; },
  });
} catch (e) {
  error = `${e.name}: ${e.message}`.slice(0, 200);
}
console.log(JSON.stringify({ seconds: (Date.now() - started) / 1000, stats, dropped, error }));
