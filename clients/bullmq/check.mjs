// BullMQ, unmodified, against a Redis server at 127.0.0.1:<port>: a queue
// and a worker, a delayed job, a repeatable job, a job that fails and is
// retried, queue events, and the queue's counts at the end. Prints one
// line per check; exits 1 on the first failure.
import { Queue, QueueEvents, Worker } from 'bullmq';

const port = Number(process.argv[2]);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const name = `orbit-check-${process.pid}`;
const deadline = setTimeout(() => fail('timed out after 60 s'), 60_000);

function fail(message) {
  console.error(`FAIL ${message}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) fail(message);
  console.log(`ok ${message}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, predicate, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await predicate()) return;
    await sleep(50);
  }
  fail(`waited for ${what}`);
}

const queue = new Queue(name, { connection });
const events = new QueueEvents(name, { connection });
await events.waitUntilReady();

const processed = [];
let flaky = 0;
const worker = new Worker(
  name,
  async (job) => {
    if (job.name === 'flaky' && flaky++ === 0) throw new Error('first attempt fails');
    processed.push({ name: job.name, data: job.data, at: Date.now() });
    return { doubled: (job.data.n ?? 0) * 2 };
  },
  { connection, concurrency: 4 },
);
await worker.waitUntilReady();

// Plain jobs: every one processed once, with its return value stored.
const completedEvents = [];
events.on('completed', ({ jobId }) => completedEvents.push(jobId));
const jobs = await queue.addBulk(Array.from({ length: 20 }, (_, n) => ({ name: 'plain', data: { n } })));
await until('20 plain jobs', () => processed.filter((p) => p.name === 'plain').length === 20);
const seen = processed.filter((p) => p.name === 'plain').map((p) => p.data.n).sort((a, b) => a - b);
check(JSON.stringify(seen) === JSON.stringify([...Array(20).keys()]), 'every plain job ran exactly once');
const first = await queue.getJob(jobs[3].id);
await until('job 3 completed', async () => (await first.getState()) === 'completed' || (await queue.getJob(jobs[3].id)).returnvalue);
const reloaded = await queue.getJob(jobs[3].id);
check(reloaded.returnvalue && reloaded.returnvalue.doubled === 6, 'a job keeps its return value');
await until('completed events', () => completedEvents.length >= 20);
check(true, 'queue events reported the completions');

// A delayed job runs after its delay.
const added = Date.now();
await queue.add('delayed', { n: 100 }, { delay: 700 });
await until('the delayed job', () => processed.some((p) => p.name === 'delayed'));
const delayed = processed.find((p) => p.name === 'delayed');
check(delayed.at - added >= 650, `the delayed job waited (${delayed.at - added} ms)`);

// A job that fails once is retried.
await queue.add('flaky', { n: 7 }, { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
await until('the flaky job', () => processed.some((p) => p.name === 'flaky'));
check(flaky === 2, 'the failed attempt was retried');

// A repeatable job runs on its schedule.
await queue.add('repeat', { n: 1 }, { repeat: { every: 300, limit: 3 } });
await until('three repetitions', () => processed.filter((p) => p.name === 'repeat').length >= 3);
check(true, 'the repeatable job repeated');
const repeatables = await queue.getRepeatableJobs();
check(Array.isArray(repeatables), `repeatable jobs listed (${repeatables.length})`);

const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed');
check(counts.completed >= 25 && counts.failed === 0, `counts ${JSON.stringify(counts)}`);

await worker.close();
await events.close();
await queue.obliterate({ force: true });
await queue.close();
clearTimeout(deadline);
console.log('ok all');
process.exit(0);
