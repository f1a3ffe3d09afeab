#!/usr/bin/env node
// Launcher: the compiled CLI lives in dist/ (built by `npm install` through the prepare script).
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('toa: the CLI is not built; run `npm run build` in the package folder.');
    process.exit(2);
  }
  throw err;
});
