// The `toa` command: a thin front; each subcommand lives in its own module over an operation.
import { Command, type CommanderError } from 'commander';
import { addAgentCommand } from './agent.js';
import { addCtlCommands } from './ctl.js';
import { addDoctorCommand } from './doctor.js';
import { addInspectCommand } from './inspect.js';
import { addK8sCommand } from './k8s.js';
import { addLabCommand } from './lab.js';
import { addModuleCommands } from './module.js';

const program = new Command('toa')
  .description('TOA tools: keep the real client address behind FullNAT load balancers')
  .version('0.1.0')
  // Usage errors (unknown flag, missing value) exit 2 like every other bad input; commander
  // has already printed its one line.
  .exitOverride((err: CommanderError) => {
    if (err.exitCode === 0) process.exit(0);
    process.exit(2);
  });

addDoctorCommand(program);
addInspectCommand(program);
addLabCommand(program);
addK8sCommand(program);
addModuleCommands(program);
addCtlCommands(program);
addAgentCommand(program);

await program.parseAsync();
