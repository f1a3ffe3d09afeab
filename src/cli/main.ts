// The `toa` command: a thin front; each subcommand lives in its own module over an operation.
import { Command, type CommanderError } from 'commander';

const program = new Command('toa')
  .description('TOA tools: keep the real client address behind FullNAT load balancers')
  .version('0.1.0')
  // Usage errors (unknown flag, missing value) exit 2 like every other bad input; commander
  // has already printed its one line.
  .exitOverride((err: CommanderError) => {
    if (err.exitCode === 0) process.exit(0);
    process.exit(2);
  });

// `toa agent` is a pod whose start → ready time counts: it loads its own command only, not the
// others' dependencies (kubernetes-models, the capture code), a third of the files to read.
if (process.argv[2] === 'agent') (await import('./agent.js')).addAgentCommand(program);
else {
  const commands = await Promise.all([
    import('./doctor.js').then((m) => m.addDoctorCommand),
    import('./inspect.js').then((m) => m.addInspectCommand),
    import('./lab.js').then((m) => m.addLabCommand),
    import('./k8s.js').then((m) => m.addK8sCommand),
    import('./module.js').then((m) => m.addModuleCommands),
    import('./ctl.js').then((m) => m.addCtlCommands),
    import('./agent.js').then((m) => m.addAgentCommand),
  ]);
  for (const add of commands) add(program);
}

await program.parseAsync();
