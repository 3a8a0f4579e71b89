// Timing: each engine is warmed up, then the engines take turns over several rounds (so that a
// burst of load from other processes hits all of them alike and the ratios stay fair). A round is
// a latency phase (process.hrtime.bigint() around each call) and a throughput phase (a tight loop,
// the clock read once per batch of 64). Reported: the median over rounds of each round's p50, p99
// and decisions/s, plus the pooled percentiles, and the CPU share (process CPU time / wall time:
// well below 1 means other processes took the CPU, which inflates decisions/s and p99 but hardly
// p50). Every loop is bounded in calls and wall time.

/** What timing one call costs: the median of back-to-back hrtime.bigint() pairs, in ns. */
export function timerOverheadNs() {
  const samples = new Float64Array(20001);
  for (let i = 0; i < samples.length; i++) {
    const t0 = process.hrtime.bigint();
    const t1 = process.hrtime.bigint();
    samples[i] = Number(t1 - t0);
  }
  samples.sort();
  return samples[samples.length >> 1];
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const us = (ns) => Math.round(ns) / 1000;

/** One engine's timing state: `decide` (request → effect string) over `requests`, cycling. */
export function createTimer(decide, requests) {
  const n = requests.length;
  let cursor = 0;
  let sink = 0;
  const rounds = [];
  const all = [];

  return {
    /** At least `minCalls` calls and `minMs`, at most `maxMs`: fast engines need time, not calls, to be optimised. */
    warmup(minCalls, minMs, maxMs) {
      const start = performance.now();
      let calls = 0;
      for (;;) {
        sink += decide(requests[cursor++ % n]).length;
        calls++;
        if ((calls & 31) === 0) {
          const elapsed = performance.now() - start;
          if (elapsed > maxMs || (calls >= minCalls && elapsed >= minMs)) break;
        }
      }
      return calls;
    },

    round(limits) {
      const cpuStart = process.cpuUsage();
      const wallStart = performance.now();
      const samples = new Float64Array(limits.latencyCalls);
      let count = 0;
      const latencyStart = performance.now();
      while (count < limits.latencyCalls) {
        const request = requests[cursor++ % n];
        const t0 = process.hrtime.bigint();
        const effect = decide(request);
        const t1 = process.hrtime.bigint();
        samples[count++] = Number(t1 - t0);
        sink += effect.length;
        if ((count & 31) === 0 && performance.now() - latencyStart > limits.latencyMs) break;
      }
      let done = 0;
      let elapsed = 0;
      const throughputStart = performance.now();
      while (done < limits.throughputCalls) {
        for (let k = 0; k < 64; k++) sink += decide(requests[cursor++ % n]).length;
        done += 64;
        elapsed = performance.now() - throughputStart;
        if (elapsed > limits.throughputMs) break;
      }
      const cpu = process.cpuUsage(cpuStart);
      const cpuShare = (cpu.user + cpu.system) / 1000 / (performance.now() - wallStart);
      const sorted = samples.slice(0, count).sort();
      for (let k = 0; k < count; k++) all.push(sorted[k]);
      rounds.push({
        samples: count,
        p50Us: us(quantile(sorted, 0.5)),
        p99Us: us(quantile(sorted, 0.99)),
        decisionsPerSecond: Math.round(done / (elapsed / 1000)),
        throughputDecisions: done,
        cpuShare: Math.round(cpuShare * 100) / 100,
      });
    },

    summary() {
      const pooled = Float64Array.from(all).sort();
      let total = 0;
      for (const x of pooled) total += x;
      return {
        p50Us: Math.round(median(rounds.map((r) => r.p50Us)) * 1000) / 1000,
        p99Us: Math.round(median(rounds.map((r) => r.p99Us)) * 1000) / 1000,
        decisionsPerSecond: Math.round(median(rounds.map((r) => r.decisionsPerSecond))),
        cpuShare: Math.round(median(rounds.map((r) => r.cpuShare)) * 100) / 100,
        pooled: {
          samples: pooled.length,
          p50Us: us(quantile(pooled, 0.5)),
          p90Us: us(quantile(pooled, 0.9)),
          p99Us: us(quantile(pooled, 0.99)),
          maxUs: us(pooled[pooled.length - 1]),
          meanUs: us(total / pooled.length),
        },
        rounds,
        sink: sink > 0,
      };
    },
  };
}

/**
 * Times several engines ({key: decide}) on the same requests: warm-up each, then `limits.rounds`
 * rounds in which every engine takes one turn. Limits per engine: warmupCalls and warmupMinMs
 * (both reached, unless warmupMs runs out first), and
 * latencyCalls/latencyMs/throughputCalls/throughputMs in total, split evenly over the rounds.
 * Each engine gets its own instance of this module (and so its own copy of the timing loops), so
 * that V8 specialises each loop to one engine instead of deoptimising it at every turn.
 */
export async function timeEngines(engines, requests, limits, onRound) {
  const timers = {};
  const warmup = {};
  for (const [key, decide] of Object.entries(engines)) {
    const own = await import(`${import.meta.url.split('?')[0]}?engine=${encodeURIComponent(key)}`);
    timers[key] = own.createTimer(decide, requests);
    warmup[key] = timers[key].warmup(limits.warmupCalls, limits.warmupMinMs, limits.warmupMs);
  }
  const perRound = {
    latencyCalls: Math.ceil(limits.latencyCalls / limits.rounds),
    latencyMs: limits.latencyMs / limits.rounds,
    throughputCalls: Math.ceil(limits.throughputCalls / limits.rounds),
    throughputMs: limits.throughputMs / limits.rounds,
  };
  for (let r = 0; r < limits.rounds; r++) {
    for (const timer of Object.values(timers)) timer.round(perRound);
    onRound?.(r + 1);
  }
  return Object.fromEntries(
    Object.entries(timers).map(([key, timer]) => [key, { warmupCalls: warmup[key], ...timer.summary() }]),
  );
}
