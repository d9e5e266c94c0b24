#!/usr/bin/env node
// Runs the TypeScript unit tests with node's own test runner (`make test`): each
// *.test.ts under clients/ is bundled by esbuild (Node 20 runs no TypeScript) into a
// scratch directory, then `node --test` runs them all.

import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dirs = ["clients/web/test", "clients/typescript/test", "clients/dashboard/test"];
const tests = dirs.flatMap((dir) =>
  readdirSync(path.join(root, dir))
    .filter((name) => name.endsWith(".test.ts"))
    .map((name) => path.join(root, dir, name)),
);
// Inside the repository, so that the bundles' imports of npm packages resolve to its
// node_modules (ES modules ignore NODE_PATH).
const cache = path.join(root, "node_modules", ".cache");
mkdirSync(cache, { recursive: true });
const out = mkdtempSync(path.join(cache, "paygate-ts-tests-"));
try {
  await build({
    entryPoints: tests,
    outdir: out,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    alias: { "@paygate/client": path.join(root, "clients/typescript/src/index.ts") },
    logLevel: "error",
  });
  const files = readdirSync(out).map((name) => path.join(out, name));
  const run = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit", cwd: root });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
