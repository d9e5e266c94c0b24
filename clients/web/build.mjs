#!/usr/bin/env node
// Builds the browser bundles with esbuild (pinned in package-lock.json) and prints their
// sizes. scripts/gen.py runs it (`make gen`, `make check-gen`):
//
//   node clients/web/build.mjs --outdir=servers/roles/web/static [--client=clients/typescript/src/gen]
//        [--roles=clients/dashboard/src/roles.json]
//
//   page.js, page.css  the hosted checkout (clients/web/checkout/), /checkout/assets/...
//   checkout.js        the embeddable SDK (clients/web/sdk/), /js/v1/checkout.js
//   dashboard/app.js, app.css   the merchant dashboard (clients/dashboard/, React),
//                               /dashboard/assets/...
//
// --client points the bundles at a freshly generated TypeScript client (gen.py's scratch
// output), so a stale bundle is caught together with a stale client; --roles does the same
// for the dashboard's role table (generated from core/access/roles.py).

import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [name, ...value] = arg.replace(/^--/, "").split("=");
    return [name, value.join("=")];
  }),
);
const outdir = path.resolve(root, args.outdir || "servers/roles/web/static");
const generated = path.resolve(root, args.client || "clients/typescript/src/gen");
const clientIndex = path.join(root, "clients/typescript/src/index.ts");
const rolesTable = path.resolve(root, args.roles || "clients/dashboard/src/roles.json");
const permissionsModule = path.join(root, "clients/dashboard/src/permissions.ts");

// The client's `./gen/...` imports resolve into `generated`.
const generatedClient = {
  name: "generated-client",
  setup(b) {
    b.onResolve({ filter: /^\.\/gen\// }, (args) =>
      args.importer === clientIndex
        ? { path: path.join(generated, args.path.slice("./gen/".length).replace(/\.js$/, ".ts")) }
        : undefined,
    );
    b.onResolve({ filter: /^\.\/roles\.json$/ }, (args) =>
      args.importer === permissionsModule ? { path: rolesTable } : undefined,
    );
  },
};

// The SDK's ceiling: it lands on every merchant's page.
export const SDK_GZIP_LIMIT = 15 * 1024;
// The dashboard's ceiling: React and every page, loaded once per sign-in.
export const DASHBOARD_GZIP_LIMIT = 150 * 1024;

export const bundles = [
  { entry: "clients/web/checkout/main.ts", out: "page.js", format: "iife" },
  { entry: "clients/web/checkout/checkout.css", out: "page.css" },
  { entry: "clients/web/sdk/checkout.ts", out: "checkout.js", format: "iife", limit: SDK_GZIP_LIMIT },
  { entry: "clients/dashboard/src/main.tsx", out: "dashboard/app.js", format: "iife", limit: DASHBOARD_GZIP_LIMIT },
  { entry: "clients/dashboard/src/app.css", out: "dashboard/app.css" },
];

async function main() {
  const rows = [];
  for (const bundle of bundles) {
    const result = await build({
      entryPoints: [path.join(root, bundle.entry)],
      bundle: true,
      minify: true,
      format: bundle.format,
      target: ["es2020"],
      platform: "browser",
      legalComments: "none",
      charset: "utf8",
      write: false,
      alias: { "@paygate/client": clientIndex },
      nodePaths: [path.join(root, "node_modules")],
      // React's production build, and the JSX runtime it ships.
      define: { "process.env.NODE_ENV": '"production"' },
      jsx: "automatic",
      plugins: [generatedClient],
      logLevel: "error",
      outfile: path.join(outdir, bundle.out),
    });
    const data = result.outputFiles[0].contents;
    mkdirSync(path.dirname(path.join(outdir, bundle.out)), { recursive: true });
    writeFileSync(path.join(outdir, bundle.out), data);
    const gzipped = gzipSync(data, { level: 9 }).length;
    rows.push([bundle.out, data.length, gzipped]);
    if (bundle.limit && gzipped > bundle.limit) {
      throw new Error(`${bundle.out} is ${gzipped} bytes gzipped, over its ${bundle.limit} byte limit`);
    }
  }
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  console.log("bundle               raw        gzip");
  for (const [name, raw, gz] of rows) {
    console.log(`${name.padEnd(18)} ${kb(raw).padStart(9)} ${kb(gz).padStart(9)}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error.message ?? error);
    process.exit(1);
  });
}
