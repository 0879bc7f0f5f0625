#!/usr/bin/env node
// The one CLI entry: `rclone-migrate <command> [--setting value ...]`.
import { main } from '../cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
