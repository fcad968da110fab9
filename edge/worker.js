// The edge Worker's entry module. Everything Sluice does is in Rust (crates/edge, built with wasm-bindgen); this
// file only declares the Durable Object classes the platform needs and hands each event to the wasm exports.
import { DurableObject } from "cloudflare:workers";
import wasmModule from "./sluice_edge_bg.wasm";
import { initSync, handle, JobObject, RegistryObject } from "./sluice_edge.js";

initSync({ module: wasmModule });

export default {
  fetch(request, env) {
    return handle(request, env);
  },
};

// One import job: its manifest, checkpoints and dead letters in this object's storage; each alarm runs a slice.
export class SluiceJob extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.job = new JobObject(ctx, env);
  }
  fetch(request) {
    return this.job.fetch(request);
  }
  alarm() {
    return this.job.alarm();
  }
}

// The list of jobs, for GET /jobs.
export class SluiceRegistry extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.registry = new RegistryObject(ctx, env);
  }
  fetch(request) {
    return this.registry.fetch(request);
  }
}
