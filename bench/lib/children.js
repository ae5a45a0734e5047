'use strict';
/**
 * Child processes for the bench: the compiled service, the BSS simulator, the baseline server.
 * Every child is tracked so that any exit path of the bench (success, error, Ctrl-C, the global
 * deadline) stops them: SIGTERM first, SIGKILL after a timeout. Only PATH and HOME of the bench's
 * own environment reach a child, so a developer's real Alibaba Cloud keys never do.
 */
const { spawn } = require('node:child_process');
const { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } = require('node:fs');
const { resolve } = require('node:path');
const { createServer } = require('node:net');

const ROOT = resolve(__dirname, '../..');
const LOG_DIR = resolve(ROOT, 'bench/.data/logs');
const live = new Set();

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * The Node/V8 flags production starts the service with, so the bench measures it as deployed: those
 * of `npm run start:prod` (the Dockerfile's CMD is the same command, checked by manifests.spec.ts)…
 */
function serviceNodeArgs() {
  const command = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')).scripts['start:prod'].split(' ');
  if (command[0] !== 'node' || command.at(-1) !== 'dist/src/main.js')
    throw new Error(`start:prod is not "node [flags] dist/src/main.js": ${command.join(' ')}`);
  return command.slice(1, -1);
}

/**
 * …and the Deployment's NODE_OPTIONS (config/k8s/base/deployment.yaml: the heap limit that goes with
 * the pod's memory limit). The limit also makes V8 collect the old generation sooner: without it, on
 * this 24 GB machine, V8 lets garbage build up towards a heap limit of about 4 GB.
 */
function deploymentNodeOptions() {
  const deployment = require('yaml').parse(readFileSync(`${ROOT}/config/k8s/base/deployment.yaml`, 'utf8'));
  const container = deployment.spec.template.spec.containers.find((c) => c.name === 'alicloud-recharge');
  return container.env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}

/** Reads a field (kB) of /proc/<pid>/status; null when the process is gone. */
function procStatusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Starts `node <script>` and resolves once a line of its output matches `readyPattern`.
 * The child writes stdout and stderr straight into a file (bench/.data/logs/<name>.log), as a
 * container runtime takes a pod's output: no process of the bench reads, splits or matches its
 * log lines while it is measured (the service writes two `info` lines per POST; piped into the
 * bench, that reading cost the machine's CPU per POST that the baseline, which logs nothing, did not
 * pay). The file is read only until the ready line, and its tail for error messages.
 * Samples VmRSS every 200 ms while it runs; VmHWM (the kernel's own peak) is read just before stop.
 */
async function startNode(name, script, env, { readyPattern, startTimeoutMs = 60_000, nodeArgs = [] } = {}) {
  mkdirSync(LOG_DIR, { recursive: true });
  const logPath = resolve(LOG_DIR, `${name.replace(/[^A-Za-z0-9_.-]+/g, '_')}.log`);
  const fd = openSync(logPath, 'w');
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const lines = () => tailLines(logPath, 300);
  let onReady = () => undefined;
  const ready = new Promise((resolve) => (onReady = resolve));
  const watcher = watchForLine(logPath, readyPattern, onReady);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const proc = {
    name,
    pid: child.pid,
    child,
    exited,
    peakRssKb: 0,
    hwmKb: null,
    output: (n = 40) => lines().slice(-n).join('\n'),
    logPath,
    async stop(timeoutMs = 20_000) {
      clearInterval(sampler);
      const hwm = procStatusKb(child.pid, 'VmHWM');
      if (hwm !== null) proc.hwmKb = hwm;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        let timer;
        const outcome = await Promise.race([
          exited,
          new Promise((r) => (timer = setTimeout(() => r('timeout'), timeoutMs))),
        ]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          child.kill('SIGKILL');
          await exited;
        }
      }
      live.delete(proc);
      return child.exitCode ?? child.signalCode;
    },
  };
  const sampler = setInterval(() => {
    const rss = procStatusKb(child.pid, 'VmRSS');
    if (rss !== null) proc.peakRssKb = Math.max(proc.peakRssKb, rss);
  }, 200);
  sampler.unref();
  live.add(proc);

  let timer;
  const outcome = await Promise.race([
    ready.then(() => 'ready'),
    exited.then(() => 'exited'),
    new Promise((r) => (timer = setTimeout(() => r('timeout'), startTimeoutMs))),
  ]);
  clearTimeout(timer);
  watcher.stop();
  if (outcome !== 'ready') {
    await proc.stop(2000);
    throw new Error(
      `${name} ${outcome === 'exited' ? 'exited during start' : 'did not start in time'}:\n${proc.output()}`,
    );
  }
  return proc;
}

/** Polls a log file every 20 ms for a line matching `pattern` (only new bytes are read). */
function watchForLine(path, pattern, onMatch) {
  let offset = 0;
  let partial = '';
  const buffer = Buffer.alloc(64 * 1024);
  const timer = setInterval(() => {
    const fd = openSync(path, 'r');
    try {
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, offset)) > 0;) {
        offset += n;
        const parts = (partial + buffer.toString('utf8', 0, n)).split('\n');
        partial = parts.pop();
        if (parts.some((line) => pattern.test(line))) {
          clearInterval(timer);
          onMatch();
          return;
        }
      }
    } finally {
      closeSync(fd);
    }
  }, 20);
  return { stop: () => clearInterval(timer) };
}

/** The last `n` lines of a file (reads at most its last 256 KiB). */
function tailLines(path, n) {
  try {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const length = Math.min(size, 256 * 1024);
      const buffer = Buffer.alloc(length);
      readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8').split('\n').filter(Boolean).slice(-n);
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
}

/** Stops every child still running (used on any exit path). */
async function stopAll() {
  await Promise.all([...live].map((p) => p.stop(5000).catch(() => undefined)));
}

/** Runs `node <script> args…` to completion and returns its stdout (throws on a non-zero exit). */
function runNode(script, args, env, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`node ${script} ${args.join(' ')} exited ${code}:\n${out}\n${err}`));
    });
  });
}

module.exports = { ROOT, freePort, startNode, stopAll, runNode, procStatusKb, serviceNodeArgs, deploymentNodeOptions };
