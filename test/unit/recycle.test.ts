// When an rclone child is recycled (recycle.ts), and reading a process's RSS from /proc (proc-rss.ts).
import t from 'tap';
import { recycleDecision, type RecycleInput } from '../../daemon/recycle.ts';
import { parseVmRss, readRssBytes } from '../../daemon/proc-rss.ts';

const MiB = 1024 * 1024;
const base: RecycleInput = {
  rssBytes: 100 * MiB,
  copies: 10,
  limits: { rssMiB: 1024, afterCopies: 0 },
  anotherRecycling: false,
  slots: 4,
  othersUp: 3,
};

void t.test('under every limit, or limits off: keep', async (t) => {
  t.same(recycleDecision(base), { action: 'keep' });
  t.same(recycleDecision({ ...base, rssBytes: 1023 * MiB, limits: { rssMiB: 1024, afterCopies: 11 } }), {
    action: 'keep',
  });
  const off = { rssMiB: 0, afterCopies: 0 };
  t.same(recycleDecision({ ...base, rssBytes: 100_000 * MiB, copies: 1e9, limits: off }), { action: 'keep' });
  t.same(recycleDecision({ ...base, rssBytes: undefined }), { action: 'keep' }, 'not sampled yet');
});

void t.test('past the RSS limit: recycle for rss, which wins over copies', async (t) => {
  t.same(recycleDecision({ ...base, rssBytes: 1024 * MiB }), { action: 'recycle', reason: 'rss' });
  t.same(recycleDecision({ ...base, rssBytes: 2048 * MiB, limits: { rssMiB: 1024, afterCopies: 5 } }), {
    action: 'recycle',
    reason: 'rss',
  });
});

void t.test('at the copy count: recycle for copies', async (t) => {
  const limits = { rssMiB: 0, afterCopies: 10 };
  t.same(recycleDecision({ ...base, limits, copies: 9 }), { action: 'keep' });
  t.same(recycleDecision({ ...base, limits, copies: 10 }), { action: 'recycle', reason: 'copies' });
  t.same(recycleDecision({ ...base, limits, copies: 11 }), { action: 'recycle', reason: 'copies' });
});

void t.test('one recycle at a time, never leaving a pool of several with no child taking copies', async (t) => {
  const over = { ...base, rssBytes: 2048 * MiB };
  t.same(recycleDecision({ ...over, anotherRecycling: true }), {
    action: 'defer',
    reason: 'rss',
    because: 'another-recycling',
  });
  t.same(recycleDecision({ ...over, othersUp: 0 }), { action: 'defer', reason: 'rss', because: 'no-other-child-up' });
  t.same(recycleDecision({ ...over, othersUp: 1 }), { action: 'recycle', reason: 'rss' });
  t.same(
    recycleDecision({ ...over, slots: 1, othersUp: 0 }),
    { action: 'recycle', reason: 'rss' },
    'a single child is recycled; copies wait for its restart',
  );
});

void t.test('parseVmRss reads VmRSS in kB as bytes', async (t) => {
  const status = 'Name:\trclone\nVmPeak:\t  900000 kB\nVmRSS:\t   51234 kB\nRssAnon:\t 40000 kB\n';
  t.equal(parseVmRss(status), 51234 * 1024);
  t.equal(parseVmRss('Name:\tkthreadd\nState:\tS (sleeping)\n'), undefined, 'no VmRSS line');
});

const noProc = process.platform !== 'linux' && 'no /proc';
void t.test(
  'readRssBytes: this process has a resident set; a process that is gone has none',
  { skip: noProc },
  async (t) => {
    const own = await readRssBytes(process.pid);
    t.ok(own !== undefined && own > MiB, `own RSS ${own}`);
    t.equal(await readRssBytes(2 ** 22 + 1), undefined);
  },
);
