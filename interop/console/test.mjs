// Drives the console in headless Chromium over every page; run by run.sh, which seeds the
// data and passes it in the environment. Each check prints ok/FAIL; the last line is
// "console: N passed, N failed".
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const env = process.env;
const URL = env.CONSOLE_URL;
const { TOPIC, GROUP, MIXED, CLUSTER, PENDING_ID, SHOTS } = env;
const NEW_TOPIC = `${TOPIC}New`;
const admin = (...args) => JSON.parse(execFileSync(env.APOGEE_BIN, ['admin', ...args, '--json', '-n', env.NAMESRV], { encoding: 'utf8' }));

let passed = 0;
let failed = 0;
const jsErrors = [];

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(15000);
page.on('pageerror', (e) => jsErrors.push(e.message));
page.on('dialog', (d) => d.accept());
const tid = (id) => page.locator(`[data-testid="${id}"]`);

async function open(hash) {
  await page.goto(`${URL}/#/${hash}`);
  await page.waitForSelector('#view[data-ready="true"]');
}
async function shot(name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}
async function noBanner() {
  if (await tid('error-banner').isVisible()) throw new Error(`error banner: ${await tid('error-text').textContent()}`);
}
async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
    await shot(`failed-${name.replace(/[^A-Za-z0-9]+/g, '-')}`).catch(() => {});
  }
}
const num = (s) => Number(String(s).replace(/[^0-9.-]/g, ''));

await check('dashboard: brokers, live rates, disk', async () => {
  await open('dashboard');
  await tid('brokers-table-row').first().waitFor();
  const row = await tid('brokers-table-row').first().textContent();
  expect(row.includes(CLUSTER), `brokers row has no cluster ${CLUSTER}: ${row}`);
  // The chart has a line once two polls (2 s apart) have come in.
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="rate-chart"] polyline').length === 2 &&
    document.querySelector('[data-testid="rate-chart"] polyline').getAttribute('points').split(' ').length >= 2, null, { timeout: 10000 });
  expect(/%/.test(await tid('disk-table-row').first().textContent()), 'disk row without a percentage');
  expect(num(await tid('stat-put-today').textContent()) >= 46, 'put today below the 46 messages seeded');
  await noBanner();
  await shot('dashboard');
});

await check('topics: list and filter', async () => {
  await open('topics');
  await page.locator(`[data-testid="topic-table-row"][data-key="${TOPIC}"]`).waitFor();
  await tid('topic-filter').fill(TOPIC);
  const keys = await tid('topic-table-row').evaluateAll((rows) => rows.map((r) => r.dataset.key));
  expect(keys.length >= 1 && keys.every((k) => k.includes(TOPIC)), `filter left ${keys.join(',')}`);
  await tid('topic-filter').fill('');
  await noBanner();
  await shot('topics');
});

await check('topics: create a topic through the form', async () => {
  await open('topics');
  await tid('topic-form-name').fill(NEW_TOPIC);
  await tid('topic-form-read').fill('2');
  await tid('topic-form-write').fill('2');
  await tid('topic-form-submit').click();
  await page.locator(`[data-testid="topic-table-row"][data-key="${NEW_TOPIC}"]`).waitFor();
  expect(admin('topicList').includes(NEW_TOPIC), `apogee admin topicList has no ${NEW_TOPIC}`);
  const route = admin('topicRoute', '-t', NEW_TOPIC);
  expect(route.queueDatas[0].readQueueNums === 2 && route.queueDatas[0].writeQueueNums === 2, `route of ${NEW_TOPIC}: ${JSON.stringify(route.queueDatas)}`);
  await noBanner();
  await shot('topic-created');
});

await check('topic page: route, queue offsets, test send', async () => {
  await open(`topic/${encodeURIComponent(TOPIC)}`);
  expect(await tid('route-table-row').count() === 1, 'route table should have one broker');
  expect(await tid('status-table-row').count() === 4, 'status table should have 4 queues');
  const status = admin('topicStatus', '-t', TOPIC);
  const total = status.reduce((s, q) => s + q.maxOffset - q.minOffset, 0);
  expect(num(await tid('topic-total').textContent()) === total, `total ${await tid('topic-total').textContent()} != ${total}`);
  const q0 = status.find((q) => q.queueId === 0);
  const row0 = await page.locator(`[data-testid="status-table-row"][data-key="${q0.brokerName}:0"]`).textContent();
  expect(row0.includes(String(q0.maxOffset)), `queue 0 row ${row0} lacks max offset ${q0.maxOffset}`);
  await tid('send-body').fill('sent from the console');
  await tid('send-keys').fill('ui-key');
  await tid('send-tags').fill('ui');
  await tid('send-submit').click();
  await tid('send-status').waitFor();
  expect((await tid('send-status').textContent()) === 'SEND_OK', 'send did not answer SEND_OK');
  expect(admin('queryMsgByKey', '-t', TOPIC, '-k', 'ui-key').some((m) => m.body === 'sent from the console'), 'the sent message is not found by key');
  await noBanner();
  await shot('topic');
});

await check('consumers: groups with lag', async () => {
  await open('consumers');
  const row = page.locator(`[data-testid="group-table-row"][data-key="${GROUP}"]`);
  await row.waitFor();
  const cells = await row.locator('td').allTextContents();
  expect(num(cells[cells.length - 1]) > 0, `group ${GROUP} shows no lag: ${cells.join(' | ')}`);
  await noBanner();
  await shot('consumers');
});

await check('consumer page: members, lag, chart', async () => {
  await open(`consumer/${encodeURIComponent(GROUP)}`);
  expect(await tid('members-table-row').count() === 1, 'one member expected');
  const p = admin('consumerProgress', '-g', GROUP);
  expect(p.diffTotal > 0, 'seeded group has no lag');
  expect(num(await tid('lag-total').textContent()) > 0, 'lag total is 0 on the page');
  expect(await page.locator(`[data-testid="lag-table-row"][data-key^="${TOPIC}:"]`).count() === 4, 'lag table should list 4 queues of the topic');
  expect(await tid('sub-warning').count() === 0, 'warning shown for a group whose only member agrees with itself');
  // The chart grows with each poll (every 3 s).
  await page.waitForFunction(() => {
    const l = document.querySelector('[data-testid="lag-chart"] polyline');
    return l && l.getAttribute('points').split(' ').length >= 2;
  }, null, { timeout: 10000 });
  await noBanner();
  await shot('consumer');
});

await check('consumer page: warns when members subscribe differently', async () => {
  await open(`consumer/${encodeURIComponent(MIXED)}`);
  expect(await tid('members-table-row').count() === 2, 'two members expected');
  await tid('sub-warning').waitFor();
  expect((await tid('sub-warning').textContent()).includes('not subscribed'), 'warning does not say what differs');
  await shot('consumer-mixed');
});

await check('messages: by key, with body, hex and properties', async () => {
  await open('messages?mode=key');
  await tid('msg-topic').fill(TOPIC);
  await tid('msg-key').fill('key-3');
  await tid('msg-search').click();
  await tid('msg-table-row').first().waitFor();
  expect(await tid('msg-table-row').count() === 1, 'one message with key-3 expected');
  expect((await tid('msg-body-preview').first().textContent()) === 'console test body 3', 'body preview');
  await shot('messages');
  await tid('msg-link').first().click();
  await page.waitForSelector('#view[data-page="message"][data-ready="true"]');
  expect((await tid('message-body').textContent()) === 'console test body 3', 'message body');
  await tid('body-hex').click();
  const hex = await tid('message-body').textContent();
  expect(hex.includes('63 6f 6e 73 6f 6c 65') && (await tid('message-body').getAttribute('data-format')) === 'hex', 'hex view');
  expect((await tid('properties-table').textContent()).includes('key-3'), 'KEYS property');
  expect((await tid('message-born-host').textContent()).includes('127.0.0.1'), 'born host');
  expect(/\d{4}-\d\d-\d\d/.test(await tid('message-store-time').textContent()), 'store time');
  await noBanner();
  await shot('message');
});

await check('messages: by id and by time range', async () => {
  await open(`messages?mode=id&topic=${encodeURIComponent(TOPIC)}&id=${PENDING_ID}&run=1`);
  await tid('msg-table-row').first().waitFor();
  expect((await tid('msg-table-row').first().getAttribute('data-key')) === PENDING_ID, 'by unique key');
  const now = Date.now();
  await open(`messages?mode=time&topic=${encodeURIComponent(TOPIC)}&begin=${now - 3600e3}&end=${now + 60e3}&run=1`);
  await tid('msg-table-row').first().waitFor();
  const all = admin('printMsg', '-t', TOPIC).length;
  expect(await tid('msg-table-row').count() === all, `time range shows ${await tid('msg-table-row').count()} of ${all}`);
  await noBanner();
  await shot('messages-time');
});

await check('trace: renders, says the group has not consumed', async () => {
  await open('trace');
  await tid('trace-id').fill(PENDING_ID);
  await tid('trace-submit').click();
  await page.waitForSelector('#view[data-page="trace"][data-ready="true"] [data-testid="trace-summary"]');
  // The pending message was sent traced (apogee admin sendMessage --trace): its Pub shows.
  const pub = tid('trace-pub');
  await pub.waitFor();
  expect((await pub.textContent()).includes(TOPIC), `pub: ${await pub.textContent()}`);
  const v = page.locator(`[data-testid="trace-verdicts"] li[data-group="${GROUP}"]`);
  await v.waitFor();
  expect((await v.textContent()).includes(`not consumed by group ${GROUP} yet`), `verdict: ${await v.textContent()}`);
  await noBanner();
  await shot('trace');
});

await check('dlq: a dead letter, resent to the online member', async () => {
  await open(`dlq/${encodeURIComponent(GROUP)}`);
  await tid('dlq-table-row').first().waitFor();
  expect(await tid('dlq-table-row').count() === 1, 'one dead letter expected');
  await tid('dlq-resend').first().click();
  await tid('dlq-resend-status').waitFor();
  expect((await tid('dlq-resend-status').textContent()).includes('CR_SUCCESS'), `resend: ${await tid('dlq-resend-status').textContent()}`);
  await noBanner();
  await shot('dlq');
  await open(`dlq/${encodeURIComponent(MIXED)}`);
  await tid('dlq-empty').waitFor();
  await shot('dlq-empty');
});

await check('consumer page: reset offsets by time', async () => {
  const before = admin('consumerProgress', '-g', GROUP).queues.filter((q) => q.topic === TOPIC);
  await open(`consumer/${encodeURIComponent(GROUP)}`);
  await tid('reset-topic').selectOption(TOPIC);
  await tid('reset-time').fill('now');
  await tid('reset-submit').click();
  await tid('reset-ok').waitFor();
  expect(await tid('reset-table-row').count() === 4, 'reset result should list 4 queues');
  const after = admin('consumerProgress', '-g', GROUP).queues.filter((q) => q.topic === TOPIC);
  expect(after.every((q) => q.consumerOffset === q.brokerOffset), `offsets not at the end: ${JSON.stringify(after)}`);
  expect(after.some((q) => q.consumerOffset !== before.find((b) => b.queueId === q.queueId).consumerOffset), 'no offset moved');
  await page.waitForFunction(() => document.querySelector('[data-testid="lag-total"]').textContent.trim() === '0');
  await noBanner();
  await shot('consumer-reset');
});

await check('error banner: an unknown topic', async () => {
  await page.goto(`${URL}/#/topic/NoSuchTopic${Date.now()}`);
  await tid('error-banner').waitFor({ state: 'visible' });
  expect(/topic/i.test(await tid('error-text').textContent()), 'banner text');
  await shot('error');
});

await check('no JavaScript error on any page', async () => {
  expect(jsErrors.length === 0, jsErrors.join('; '));
});

await browser.close();
console.log(`console: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
