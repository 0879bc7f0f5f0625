#!/usr/bin/env node
// The one CLI entry: `rclone-migrate <command> [--setting value ...]`.
import { runCli } from '../cli/main.ts';

process.exitCode = await runCli(process.argv.slice(2));
