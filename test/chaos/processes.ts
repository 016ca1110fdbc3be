// Whole Stowage processes for the chaos run, kept alive the way a container runtime does:
// a process that exits is started again after a pause, however it died. A supervisor
// hides a crash, so every exit the run did not cause (kill -9, SIGTERM) is counted as one,
// with the fatal line the process logged (see logCrashes in src/running-process.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { CLI, REPO_ROOT, TEST_PROCESS_ENV, runCli } from '../helpers/cli-process.js';

const RESTART_DELAY_MS = 1_000;

/** Runs `stowage init` once (schemas, buckets); its output goes to `logFile`. */
export async function runInit(env: Record<string, string>, logFile: string): Promise<void> {
  const init = runCli(['init'], env);
  const code = await init.exited;
  await writeFile(logFile, init.output());
  if (code !== 0) throw new Error(`stowage init exited ${code}:\n${init.output()}`);
}

/** One `stowage <command>` process under supervision, its output appended to a log file. */
export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private readonly log: WriteStream;
  private supervising = true;
  private readyCount = 0;
  private tail = '';
  /** The last output, for the reason of a crash. */
  private recent = '';
  /** Set by kill9() until the killed process's exit arrives. */
  private killed: ChildProcess | undefined;
  /** Exits after our own kill -9. */
  killedExits = 0;
  /** Exits the run did not cause: crashes, even when the supervisor restarts the process. */
  crashes = 0;
  /** For each crash: exit code or signal and the process's last fatal line (or output). */
  readonly crashReasons: string[] = [];
  starts = 0;

  constructor(
    readonly name: string,
    private readonly args: readonly string[],
    private readonly env: Record<string, string>,
    logFile: string,
    /** A line the process prints once it serves (e.g. `worker started`). */
    private readonly readyLine: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
  }

  /** Starts the process; resolves once it printed its ready line. */
  async start(): Promise<void> {
    const before = this.readyCount;
    this.spawn();
    await this.waitReady(before);
  }

  private spawn(): void {
    this.starts++;
    const child = spawn(process.execPath, [...CLI, ...this.args], {
      cwd: REPO_ROOT,
      env: { ...TEST_PROCESS_ENV, ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const onData = (data: Buffer) => {
      this.log.write(data);
      this.recent = (this.recent + data.toString()).slice(-8_192);
      this.tail = (this.tail + data.toString()).slice(-16_384);
      // Count ready lines across chunk boundaries: scan the tail, then keep only what follows.
      let at = this.tail.indexOf(this.readyLine);
      while (at >= 0) {
        this.readyCount++;
        this.tail = this.tail.slice(at + this.readyLine.length);
        at = this.tail.indexOf(this.readyLine);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code, signal) => {
      this.log.write(`\n[chaos] ${this.name} exited (code ${code}, signal ${signal})\n`);
      if (this.child !== child) return;
      this.child = undefined;
      if (!this.supervising) return;
      if (this.killed === child) {
        this.killed = undefined;
        this.killedExits++;
      } else {
        this.crashes++;
        this.crashReasons.push(
          `${this.name} exited (code ${code}, signal ${signal}): ${this.lastWords()}`,
        );
      }
      setTimeout(() => {
        if (this.supervising && this.child === undefined) this.spawn();
      }, RESTART_DELAY_MS);
    });
  }

  private async waitReady(before: number, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.readyCount === before) {
      if (Date.now() > deadline) throw new Error(`${this.name} not ready within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Whether the process is running now. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null;
  }

  /** The fatal line of a crash if the process logged one, else the end of its output. */
  private lastWords(): string {
    const lines = this.recent.trim().split('\n');
    const fatal = lines.filter((l) => l.includes('"level":60')).pop();
    return (fatal ?? lines.slice(-5).join('\n')).slice(0, 2_000);
  }

  /** kill -9; the supervisor starts it again, as a container runtime would. */
  kill9(): boolean {
    if (!this.child) return false;
    this.killed = this.child;
    this.child.kill('SIGKILL');
    return true;
  }

  /** SIGTERM (graceful stop), wait for the exit, then start it again: one step of a rolling restart. */
  async rollingRestart(): Promise<number | null> {
    const child = this.child;
    if (!child) return null;
    this.child = undefined;
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    const [code] = await exited;
    await this.start();
    return code;
  }

  /** Stops for good: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.supervising = false;
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.log.end(() => resolve()));
  }
}
