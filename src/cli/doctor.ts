// `toa doctor [--json]`: is originalPeer() ready here? Exit 0 when the binding works (a missing
// toa.ko is a warning), 1 when it does not.
import type { Command } from 'commander';
import { type Diagnosis, diagnose } from '../binding/diagnose.js';

function print(d: Diagnosis): void {
  const b = d.binding;
  const why = b.forced ? ` (TOA_BINDING=${b.forced})` : b.addonError ? ` (addon: ${b.addonError})` : '';
  console.log(`binding   ${b.kind ?? `none: ${b.error}`}${why}`);
  console.log(`toa.ko    ${d.module.loaded ? `loaded, version ${d.module.version}` : 'not loaded'}`);
  console.log(
    `lookup    ${d.lookup.text}${d.lookup.peerVia ? `; originalPeer() via ${d.lookup.peerVia}` : ''}`,
  );
  console.log(`node      ${d.node.version}, ABI ${d.node.abi}, N-API ${d.node.napi ?? '?'}`);
  for (const w of d.warnings) console.log(`warning: ${w}`);
  console.log(d.ok ? 'ok' : 'not ok: originalPeer() does not work here');
}

export function addDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('say which binding originalPeer() uses and whether toa.ko answers its lookup')
    .option('--json', 'print the diagnosis as one JSON object')
    .action(async (flags: { json?: boolean }) => {
      const d = await diagnose();
      if (flags.json) console.log(JSON.stringify(d));
      else print(d);
      process.exitCode = d.ok ? 0 : 1;
    });
}
