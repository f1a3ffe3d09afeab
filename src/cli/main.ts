import { Command } from 'commander';

const program = new Command('toa')
  .description('TOA tools: keep the real client address behind FullNAT load balancers')
  .version('0.1.0');

program.parse();
