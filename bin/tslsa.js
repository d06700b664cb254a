#!/usr/bin/env node
import { main, toleratePipeClose } from '../dist/cli/main.js';

toleratePipeClose();

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`tslsa: ${err?.message ?? err}\n`); process.exitCode = 1; },
);
