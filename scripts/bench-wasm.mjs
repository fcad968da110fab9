// Runs the wasm build of the throughput workloads (see bench-wasm.sh) and prints their figures in the native
// benchmark's format, then each beside the native figure read from the native run's output.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const [modulePath, nativePath] = process.argv.slice(2);
const { Source } = createRequire(import.meta.url)(resolve(modulePath));
const megabytes = Number(process.env.SLUICE_BENCH_MB ?? 128);
const runs = 3;

console.log(`\nsluice-engine throughput in wasm (Node ${process.version}): ${megabytes} MB per format, best of ${runs} runs`);
const wasm = new Map();
for (let kind = 0; kind < Source.kinds(); kind++) {
  const source = new Source(kind, megabytes * 1_000_000);
  console.log(`\n${source.label()}: ${source.bytes()} bytes, ${source.records()} records`);
  for (let c = 0; c < source.cases(); c++) {
    let best = Infinity;
    let records = 0;
    for (let run = 0; run < runs; run++) {
      const start = performance.now();
      records = source.run(c);
      best = Math.min(best, (performance.now() - start) / 1000);
    }
    const name = source.case_name(c);
    const mbs = source.bytes() / best / 1e6;
    wasm.set(name, mbs);
    console.log(`${name.padEnd(44)} ${mbs.toFixed(0).padStart(9)} MB/s ${(records / best).toFixed(0).padStart(12)} records/s  (${records} records, ${best.toFixed(3)} s)`);
  }
  source.free();
}

if (nativePath) {
  const native = new Map();
  for (const line of readFileSync(nativePath, 'utf8').split('\n')) {
    const match = /^(.{44}) +(\d+) MB\/s/.exec(line);
    if (match) native.set(match[1].trim(), Number(match[2]));
  }
  console.log(`\n${'workload'.padEnd(44)} ${'native'.padStart(9)} ${'wasm'.padStart(9)}  wasm/native`);
  for (const [name, mbs] of wasm) {
    const nat = native.get(name);
    const ratio = nat ? `${((mbs / nat) * 100).toFixed(0)} %` : 'no native figure';
    console.log(`${name.padEnd(44)} ${String(nat ?? '-').padStart(9)} ${mbs.toFixed(0).padStart(9)}  ${ratio}`);
  }
}
