'use strict';
/**
 * How much of the machine was ours during a phase. The bench shares its cores with whatever else
 * runs (other engineers' test suites, CI): it counts the CPU time of the whole machine (/proc/stat)
 * and of its own process tree (the bench, its children, the embedded PostgreSQL and its backends;
 * exited descendants are included through their parents' cutime/cstime), and reports the rest as
 * "foreign" CPU, so a figure taken on a busy machine is recognisable as such.
 */
const { performance } = require('node:perf_hooks');
const { readdirSync, readFileSync } = require('node:fs');
const os = require('node:os');

const TICK = 100; // USER_HZ on Linux

function machineBusyTicks() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return user + nice + system + irq + softirq + (steal ?? 0);
}

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); ppid is field 4, utime 14, stime 15, cutime 16, cstime 17
    return {
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]),
    };
  } catch {
    return null;
  }
}

function ourTreeTicks() {
  const stats = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) stats.set(Number(name), s);
  }
  const children = new Map();
  for (const [pid, s] of stats) {
    if (!children.has(s.ppid)) children.set(s.ppid, []);
    children.get(s.ppid).push(pid);
  }
  let total = 0;
  const stack = [process.pid];
  while (stack.length) {
    const pid = stack.pop();
    const s = stats.get(pid);
    if (s) total += s.ticks;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

function snapshot() {
  return { at: performance.now(), machine: machineBusyTicks(), ours: ourTreeTicks() };
}

/** CPU use between two snapshots, in cores (2.0 = two cores fully busy). */
function usage(from, to = snapshot()) {
  const seconds = (to.at - from.at) / 1000;
  const machine = (to.machine - from.machine) / TICK / seconds;
  const ours = (to.ours - from.ours) / TICK / seconds;
  const round = (x) => Math.round(x * 100) / 100;
  return {
    cores: os.availableParallelism(),
    busyCores: round(machine),
    oursCores: round(ours),
    foreignCores: round(Math.max(0, machine - ours)),
  };
}

/** utime + stime of one process (its own CPU, children excluded), in ticks; null when it is gone. */
function processTicks(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

module.exports = { snapshot, usage, processTicks, TICK };
