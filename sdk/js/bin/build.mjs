#!/usr/bin/env node
//! `ml-connector-js-build`: builds a JavaScript plugin into a WebAssembly
//! component with componentize-qjs (QuickJS, pre-initialized with Wizer),
//! against the WIT contract this SDK carries in `wit/`. Synchronous ABI only:
//! the host does not enable component-model async.
//!
//!     ml-connector-js-build plugin.js -o my-plugin.wasm [--module-root DIR] [--wit DIR --world NAME]
//!
//! `--module-root` (default: the working directory) is the folder the plugin
//! may import from, `node_modules` included; imports are bundled into the
//! component at build time, nothing is read at run time.

import { readFileSync, writeFileSync } from "node:fs";
import { resolve, relative, isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { componentize } from "componentize-qjs";

const usage = "usage: ml-connector-js-build ENTRY.js -o OUT.wasm [--module-root DIR] [--wit DIR] [--world NAME]";

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      output: { type: "string", short: "o" },
      "module-root": { type: "string" },
      wit: { type: "string" },
      world: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
} catch (e) {
  console.error(`ml-connector-js-build: ${e.message}\n${usage}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (positionals.length !== 1 || values.output === undefined) {
  console.error(usage);
  process.exit(2);
}

const entry = resolve(positionals[0]);
const moduleRoot = resolve(values["module-root"] ?? process.cwd());
const rel = relative(moduleRoot, entry);
if (rel.startsWith("..") || isAbsolute(rel)) {
  console.error(`ml-connector-js-build: ${entry} is not under the module root ${moduleRoot} (see --module-root)`);
  process.exit(2);
}
const witPath = values.wit === undefined ? fileURLToPath(new URL("../wit", import.meta.url)) : resolve(values.wit);

const started = Date.now();
try {
  const { component } = await componentize({
    witPath,
    world: values.world ?? "notifier",
    jsSource: readFileSync(entry, "utf8"),
    jsPath: entry,
    moduleRoot,
    sync: true,
  });
  writeFileSync(values.output, component);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.error(`Built ${values.output} (${(component.length / 1e6).toFixed(1)} MB) from ${rel} in ${seconds} s.`);
} catch (e) {
  console.error(`ml-connector-js-build: ${rel}: ${e.message ?? e}`);
  process.exit(1);
}
