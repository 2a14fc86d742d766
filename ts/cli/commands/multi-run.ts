import type { Command } from 'commander';
export function registerMultiRun(_program: Command): void {}
