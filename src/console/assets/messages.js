'use strict';
// Apogee console, part 3 of 3: finding messages (by key, id, time range), a message's view
// (body as text or hex, properties, consumption by each group, resend to a consumer), the
// dead letters of a group, and a message's trace (why it was or was not consumed).

(function () {
  const { h, admin, table, card, field, link, enc, fmtTime, fmtNum, busy, jsonView } = Apogee;
  const MAX_ROWS = 500;

  // The start of a body, control characters and undecodable bytes shown as ·.
  const preview = (s, n = 60) => {
    const t = String(s == null ? '' : s).slice(0, n + 1).replace(/[\u0000-\u001f\u007f\ufffd]/g, '·');
    return t.length > n ? `${t.slice(0, n)}…` : t;
  };
  const hexDump = function (text) {
    const bytes = new TextEncoder().encode(text);
    const lines = [];
    for (let i = 0; i < bytes.length; i += 16) {
      const row = [...bytes.slice(i, i + 16)];
      const hex = row.map((b) => b.toString(16).padStart(2, '0')).join(' ');
      const ascii = row.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
      lines.push(`${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
    }
    return lines.join('\n') || '(empty)';
  };
  Apogee.hexDump = hexDump;

  function messageTable(msgs, testid) {
    return table([
      { label: 'Message id', render: (m) => link(`#/message/${enc(m.offsetMsgId)}`, m.msgId, { class: 'mono', testid: 'msg-link' }) },
      { label: 'Topic', key: 'topic' },
      { label: 'Tags', key: 'tags' },
      { label: 'Keys', key: 'keys' },
      { label: 'Queue', render: (m) => `${m.brokerName || m.storeHost}:${m.queueId}`, cls: 'nowrap' },
      { label: 'Offset', key: 'queueOffset', cls: 'num' },
      { label: 'Stored', render: (m) => fmtTime(m.storeTimestamp), cls: 'nowrap' },
      { label: 'Body', render: (m) => h('span', { class: 'mono muted preview', testid: 'msg-body-preview' }, preview(m.body)) },
    ], msgs.slice(0, MAX_ROWS), { testid, rowKey: (m) => m.msgId, empty: 'No message found.' });
  }

  // ---------- search ----------

  const toLocalInput = (ms) => {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 19);
  };

  Apogee.routes.messages = async function (view, ctx) {
    const q = ctx.query;
    const mode = q.mode || 'key';
    const tabs = h('div', { class: 'tabs', testid: 'msg-tabs' }, [['key', 'By key'], ['id', 'By message id'], ['time', 'By time range']].map(([m, label]) =>
      h('a', { href: `#/messages?mode=${m}${q.topic ? `&topic=${enc(q.topic)}` : ''}`, class: m === mode ? 'active' : null, testid: `msg-tab-${m}` }, label)));
    const topic = h('input', { id: 'msg-topic', testid: 'msg-topic', placeholder: 'Topic', value: q.topic || '', required: mode !== 'id' });
    const inputs = { topic };
    let fields;
    if (mode === 'key') {
      inputs.key = h('input', { id: 'msg-key', testid: 'msg-key', placeholder: 'Key', value: q.key || '', required: true });
      fields = [field('Topic', topic), field('Key', inputs.key)];
    } else if (mode === 'id') {
      inputs.id = h('input', { id: 'msg-id', testid: 'msg-id', class: 'mono', placeholder: 'Message id', value: q.id || '', required: true, size: 36 });
      topic.placeholder = 'Topic (for a client message id)';
      fields = [field('Message id', inputs.id, 'the broker\'s offset id; or the client\'s id (unique key) with the topic'), field('Topic', topic)];
    } else {
      const now = Date.now();
      inputs.begin = h('input', { id: 'msg-begin', testid: 'msg-begin', type: 'datetime-local', step: 1, value: toLocalInput(Number(q.begin) || now - 3600e3) });
      inputs.end = h('input', { id: 'msg-end', testid: 'msg-end', type: 'datetime-local', step: 1, value: toLocalInput(Number(q.end) || now + 60e3) });
      fields = [field('Topic', topic), field('Stored from', inputs.begin), field('to', inputs.end)];
    }
    const submit = h('button', { type: 'submit', id: 'msg-search', testid: 'msg-search', class: 'primary' }, 'Search');
    const form = h('form', { id: 'msg-form', class: 'form-grid' }, fields, h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams({ mode, run: '1' });
      if (topic.value.trim()) p.set('topic', topic.value.trim());
      if (inputs.key) p.set('key', inputs.key.value.trim());
      if (inputs.id) p.set('id', inputs.id.value.trim());
      if (inputs.begin) { p.set('begin', new Date(inputs.begin.value).getTime()); p.set('end', new Date(inputs.end.value).getTime()); }
      Apogee.go(`#/messages?${p}`);
    });
    const results = h('div', { id: 'msg-results', testid: 'msg-results' });
    view.append(h('h1', null, 'Messages'), card(null, 'msg-search-card', tabs, form), results);
    if (!q.run) return;

    let msgs;
    if (mode === 'key') msgs = await admin(['queryMsgByKey', '-t', q.topic, '-k', q.key]);
    else if (mode === 'id') msgs = q.topic ? await admin(['queryMsgByUniqueKey', '-t', q.topic, '-i', q.id, '-a']) : await admin(['queryMsgById', '-i', q.id]);
    else msgs = await admin(['printMsg', '-t', q.topic, '-b', String(q.begin), '-e', String(q.end)]);
    msgs = msgs.slice().sort((a, b) => a.storeTimestamp - b.storeTimestamp);
    const more = msgs.length > MAX_ROWS ? ` (showing the first ${MAX_ROWS})` : '';
    results.append(card(`${msgs.length} message${msgs.length === 1 ? '' : 's'}${more}`, 'msg-results-card', messageTable(msgs, 'msg-table')));
  };

  // ---------- consumption by group (from offsets) ----------

  // For every group subscribed to the message's topic: has its committed offset on the
  // message's queue passed the message? Works without tracing.
  Apogee.consumptionOf = async function (msg) {
    const list = await admin(['topicList', '-c'], { quiet: true }).catch(() => []);
    const groups = ((list.find((t) => t.topic === msg.topic) || {}).groups) || [];
    return Promise.all(groups.map(async (group) => {
      const p = await admin(['consumerProgress', '-g', group], { quiet: true }).catch(() => null);
      const q = p && (p.queues || []).find((x) => x.topic === msg.topic && x.queueId === msg.queueId && (!msg.brokerName || x.brokerName === msg.brokerName));
      if (!q) return { group, state: 'unknown', text: 'no committed offset on this queue' };
      if (q.consumerOffset > msg.queueOffset) return { group, state: 'consumed', text: `consumed: the group's offset has passed the message (group offset ${q.consumerOffset} > message offset ${msg.queueOffset})` };
      return { group, state: 'pending', text: `not consumed by group ${group} yet (group offset ${q.consumerOffset} ≤ message offset ${msg.queueOffset}, ${q.diff} behind on this queue)` };
    }));
  };

  function consumptionCard(rows) {
    return card('Consumption by group (offsets)', 'consumption-card', table([
      { label: 'Group', render: (r) => link(`#/consumer/${enc(r.group)}`, r.group) },
      { label: 'State', render: (r) => h('span', { class: `badge ${r.state}`, testid: `consumption-${r.state}` }, r.state) },
      { label: 'Why', key: 'text' },
    ], rows, { testid: 'consumption-table', empty: 'No consumer group subscribes to this topic.' }));
  }

  // ---------- resend (consume directly) ----------

  // A group and client picker and a button: queryMsgById -i <offset id> -g G -d CLIENT asks
  // that consumer to consume the message now (CONSUME_MESSAGE_DIRECTLY).
  function resendForm(msg, groups, presetGroup, prefix = 'resend') {
    const groupSel = Apogee.select({ id: `${prefix}-group`, testid: `${prefix}-group` }, groups.length ? groups : [['', 'no consumer group']]);
    if (presetGroup && groups.includes(presetGroup)) groupSel.value = presetGroup;
    const clientSel = Apogee.select({ id: `${prefix}-client`, testid: `${prefix}-client` }, []);
    const submit = h('button', { type: 'submit', id: `${prefix}-submit`, testid: `${prefix}-submit`, class: 'primary' }, 'Resend to consumer');
    const out = h('div', { id: `${prefix}-result`, testid: `${prefix}-result`, class: 'result' });
    async function loadClients() {
      clientSel.replaceChildren();
      if (!groupSel.value) return;
      const c = await admin(['consumerConnection', '-g', groupSel.value], { quiet: true }).catch(() => null);
      const ids = c ? c.connectionSet.map((m) => m.clientId) : [];
      clientSel.replaceChildren(...(ids.length ? ids.map((id) => h('option', { value: id }, id)) : [h('option', { value: '' }, 'no member online')]));
      submit.disabled = !ids.length;
    }
    groupSel.addEventListener('change', loadClients);
    const form = h('form', { class: 'form-grid', testid: `${prefix}-form` }, field('Group', groupSel), field('Client', clientSel), h('div', { class: 'actions' }, submit), out);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, out, async () => {
        const r = await admin(['queryMsgById', '-i', msg.offsetMsgId, '-g', groupSel.value, '-d', clientSel.value]);
        const res = Array.isArray(r) ? r[0] : r;
        const ok = res && /SUCCESS/.test(String(res.consumeResult));
        out.replaceChildren(h('p', { class: ok ? 'ok' : 'fail', testid: `${prefix}-status` }, `${clientSel.value}: ${res ? res.consumeResult : 'no answer'}`), jsonView(r));
      });
    });
    loadClients();
    return form;
  }

  // ---------- a message ----------

  Apogee.routes.message = async function (view, ctx) {
    const id = ctx.params[0];
    view.append(h('h1', null, h('a', { href: '#/messages', class: 'crumb' }, 'Messages'), ' / ', h('span', { class: 'mono', testid: 'message-id' }, id)));
    const found = await admin(['queryMsgById', '-i', id]);
    const msg = found[0];
    if (!msg) { view.append(h('p', { class: 'muted' }, 'No such message.')); return; }
    const dlqGroup = msg.topic.startsWith('%DLQ%') ? msg.topic.slice(5) : null;
    const kv = {
      Topic: link(`#/topic/${enc(msg.topic)}`, msg.topic),
      'Message id (client)': h('code', { testid: 'message-msgid' }, msg.msgId),
      'Offset id (broker)': h('code', null, msg.offsetMsgId),
      Tags: msg.tags || '—', Keys: msg.keys || '—',
      Queue: h('span', { testid: 'message-queue' }, `${msg.brokerName || msg.storeHost} / queue ${msg.queueId}, offset ${msg.queueOffset}`),
      'Commit log offset': fmtNum(msg.commitLogOffset),
      Stored: h('span', { testid: 'message-store-time' }, `${fmtTime(msg.storeTimestamp)} on ${msg.storeHost}`),
      Born: h('span', { testid: 'message-born-host' }, `${fmtTime(msg.bornTimestamp)} at ${msg.bornHost}`),
      'Reconsume times': String(msg.reconsumeTimes), 'Sys flag': String(msg.sysFlag),
    };
    const details = h('table', { class: 'kv', testid: 'message-details' }, h('tbody', null,
      Object.entries(kv).map(([k, v]) => h('tr', null, h('th', null, k), h('td', null, v)))));

    const bodyPre = h('pre', { class: 'body', id: 'message-body', testid: 'message-body' }, msg.body);
    const asText = h('button', { type: 'button', class: 'small active', testid: 'body-text' }, 'Text');
    const asHex = h('button', { type: 'button', class: 'small', testid: 'body-hex' }, 'Hex');
    const showAs = (hex) => {
      bodyPre.textContent = hex ? hexDump(msg.body) : msg.body;
      bodyPre.dataset.format = hex ? 'hex' : 'text';
      asHex.classList.toggle('active', hex); asText.classList.toggle('active', !hex);
    };
    asText.addEventListener('click', () => showAs(false));
    asHex.addEventListener('click', () => showAs(true));
    showAs(false);

    const groupsP = admin(['consumerProgress'], { quiet: true }).then((l) => l.map((g) => g.group).sort()).catch(() => []);
    const consumption = dlqGroup ? [] : await Apogee.consumptionOf(msg);
    const groups = await groupsP;
    view.append(
      h('div', { class: 'cols' },
        card('Message', 'message-card', details,
          h('p', { class: 'row' },
            link(`#/trace/${enc(msg.msgId)}?topic=${enc(msg.topic)}`, 'Trace →', { testid: 'message-trace', class: 'button' }),
            dlqGroup ? link(`#/dlq/${enc(dlqGroup)}`, `Dead letters of ${dlqGroup} →`, { class: 'button' }) : null)),
        card('Properties', 'message-properties', table([{ label: 'Name', key: 'k', cls: 'mono' }, { label: 'Value', key: 'v', cls: 'mono' }],
          Object.entries(msg.properties || {}).sort().map(([k, v]) => ({ k, v })), { testid: 'properties-table' }))),
      card(`Body (${new TextEncoder().encode(msg.body).length} bytes as text)`, 'body-card', h('div', { class: 'row' }, asText, asHex), bodyPre),
      dlqGroup ? null : consumptionCard(consumption),
      card('Resend to a consumer', 'resend-card',
        h('p', { class: 'muted' }, 'The chosen consumer consumes the message now (CONSUME_MESSAGE_DIRECTLY); offsets do not move.'),
        resendForm(msg, groups, dlqGroup || (consumption[0] && consumption[0].group))));
  };

  // ---------- dead letters ----------

  Apogee.routes.dlq = async function (view, ctx) {
    const group = ctx.params[0];
    view.append(h('h1', null, 'Dead letters'));
    const [groups, topics] = await Promise.all([
      admin(['consumerProgress']).then((l) => l.map((g) => g.group)),
      admin(['topicList']),
    ]);
    const withDlq = new Set(topics.filter((t) => t.startsWith('%DLQ%')).map((t) => t.slice(5)));
    const all = [...new Set([...groups, ...withDlq])].sort();
    const picker = Apogee.select({ id: 'dlq-group', testid: 'dlq-group' },
      [['', '— pick a group —'], ...all.map((g) => [g, withDlq.has(g) ? `${g} (has dead letters)` : g])]);
    if (group) picker.value = group;
    picker.addEventListener('change', () => picker.value && Apogee.go(`#/dlq/${enc(picker.value)}`));
    view.append(card(null, 'dlq-picker-card', h('div', { class: 'toolbar' }, field('Group', picker),
      h('span', { class: 'muted' }, withDlq.size ? `${withDlq.size} group(s) with a dead-letter topic` : 'No group has a dead-letter topic.'))));
    if (!group) return;

    const topic = `%DLQ%${group}`;
    let msgs = [];
    if (withDlq.has(group)) {
      msgs = await admin(['printMsg', '-t', topic]);
    }
    if (!msgs.length) {
      view.append(card(`${topic}`, 'dlq-list', h('p', { class: 'empty-state', id: 'dlq-empty', testid: 'dlq-empty' },
        `No dead letters for ${group}. A message lands in ${topic} after its group failed to consume it as many times as the group's retryMaxTimes allows.`)));
      return;
    }
    msgs.sort((a, b) => b.storeTimestamp - a.storeTimestamp);
    const conn = await admin(['consumerConnection', '-g', group], { quiet: true }).catch(() => null);
    const clients = conn ? conn.connectionSet.map((m) => m.clientId) : [];
    const clientSel = Apogee.select({ id: 'dlq-client', testid: 'dlq-client' }, clients.length ? clients : [['', 'no member online']]);
    const out = h('div', { id: 'dlq-resend-result', testid: 'dlq-resend-result', class: 'result' });
    const resend = (m, button) => busy(button, out, async () => {
      if (!clientSel.value) throw new Error(`No member of ${group} is online: a resend needs a consumer to take the message.`);
      const r = await admin(['queryMsgById', '-i', m.offsetMsgId, '-g', group, '-d', clientSel.value]);
      const res = Array.isArray(r) ? r[0] : r;
      const ok = res && /SUCCESS/.test(String(res.consumeResult));
      out.replaceChildren(h('p', { class: ok ? 'ok' : 'fail', testid: 'dlq-resend-status' }, `${m.msgId} → ${clientSel.value}: ${res ? res.consumeResult : 'no answer'}`), jsonView(r));
    });
    view.append(card(`${msgs.length} dead letter${msgs.length === 1 ? '' : 's'} in ${topic}`, 'dlq-list',
      h('div', { class: 'toolbar' }, field('Resend to', clientSel), h('span', { class: 'muted' }, 'the chosen member consumes the message now')),
      out,
      table([
        { label: 'Message id', render: (m) => link(`#/message/${enc(m.offsetMsgId)}`, m.msgId, { class: 'mono' }) },
        { label: 'Original topic', render: (m) => (m.properties || {}).RETRY_TOPIC || (m.properties || {}).REAL_TOPIC || '—' },
        { label: 'Keys', key: 'keys' },
        { label: 'Retries', key: 'reconsumeTimes', cls: 'num' },
        { label: 'Dead since', render: (m) => fmtTime(m.storeTimestamp), cls: 'nowrap' },
        { label: 'Body', render: (m) => h('span', { class: 'mono muted preview' }, preview(m.body, 40)) },
        { label: '', cls: 'right nowrap', render: (m) => [
          link(`#/trace/${enc((m.properties || {}).ORIGIN_MESSAGE_ID || m.msgId)}`, 'trace', { class: 'small-link' }), ' ',
          h('button', { class: 'small', testid: 'dlq-resend', onclick: (ev) => resend(m, ev.target) }, 'Resend')] },
      ], msgs.slice(0, MAX_ROWS), { testid: 'dlq-table', rowKey: (m) => m.msgId })));
  };

  // ---------- trace ----------

  const TYPE_ORDER = { Pub: 0, EndTransaction: 1, SubBefore: 2, SubAfter: 3 };

  // Per consumer group: what its trace records say, in words; for a group without consume
  // records, what its committed offset says (byOffsets: consumptionOf's rows).
  Apogee.traceVerdicts = function (traces, subscribedGroups, byOffsets = []) {
    const offsets = Object.fromEntries(byOffsets.map((r) => [r.group, r]));
    const groups = [...new Set([...subscribedGroups, ...traces.filter((t) => t.type.startsWith('Sub')).map((t) => t.group)])].sort();
    return groups.map((g) => {
      const after = traces.filter((t) => t.group === g && t.type === 'SubAfter');
      const before = traces.filter((t) => t.group === g && t.type === 'SubBefore');
      const ok = after.filter((t) => t.success !== false && t.status !== 'failed');
      const off = offsets[g];
      if (ok.length) return { group: g, state: 'consumed', text: `consumed at ${fmtTime(ok[0].timestamp)} by ${ok[0].clientHost} in ${ok[0].costTime} ms` };
      if (after.length) {
        const tries = Math.max(after.length, ...after.map((t) => (t.retryTimes || 0) + 1));
        return { group: g, state: 'failed', text: `consumption failed ${tries} time(s); after the group's retryMaxTimes failures the message moves to %DLQ%${g}`, dlq: true };
      }
      if (before.length) return { group: g, state: 'pending', text: `delivered to ${before[0].clientHost} at ${fmtTime(before[0].timestamp)} but no result recorded yet (still consuming, or the consumer died)` };
      if (off && off.state === 'consumed') return { group: g, state: 'consumed', text: `${off.text}; no consume record (the consumer does not trace)` };
      if (off && off.state === 'pending') return { group: g, state: 'pending', text: `${off.text}; no consume record` };
      return { group: g, state: 'pending', text: `not consumed by group ${g} yet (no consume record, no committed offset on the message's queue)` };
    });
  };

  Apogee.routes.trace = async function (view, ctx) {
    const id = ctx.params[0] || '';
    const input = h('input', { id: 'trace-id', testid: 'trace-id', class: 'mono', placeholder: 'Message id (the client\'s)', value: id, required: true, size: 36 });
    const traceTopic = h('input', { id: 'trace-topic', testid: 'trace-topic', placeholder: 'RMQ_SYS_TRACE_TOPIC', value: ctx.query.traceTopic || '' });
    const submit = h('button', { type: 'submit', id: 'trace-submit', testid: 'trace-submit', class: 'primary' }, 'Trace');
    const form = h('form', { id: 'trace-form', class: 'form-grid' }, field('Message id', input), field('Trace topic', traceTopic, 'empty: the default'), h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      if (ctx.query.topic) p.set('topic', ctx.query.topic);
      if (traceTopic.value.trim()) p.set('traceTopic', traceTopic.value.trim());
      Apogee.go(`#/trace/${enc(input.value.trim())}${p.toString() ? `?${p}` : ''}`);
    });
    view.append(h('h1', null, 'Message trace'), card(null, 'trace-form-card', form));
    if (!id) return;

    const args = ['queryMsgTraceById', '-i', id];
    if (ctx.query.traceTopic) args.push('-t', ctx.query.traceTopic);
    // No trace topic yet (nobody traced anything) is an empty trace, not an error.
    const res = await admin(args, { quiet: true }).catch((e) => {
      if (/no route|unknown topic|not exist/i.test(e.message)) return { msgId: id, traceTopic: ctx.query.traceTopic || 'RMQ_SYS_TRACE_TOPIC', traces: [], note: e.message };
      Apogee.showError(`queryMsgTraceById: ${e.message}`);
      throw e;
    });
    const traces = (res.traces || []).slice().sort((a, b) => a.timestamp - b.timestamp || TYPE_ORDER[a.type] - TYPE_ORDER[b.type]);
    const pub = traces.find((t) => t.type === 'Pub');
    const topic = (pub && pub.topic) || ctx.query.topic || (traces[0] && traces[0].topic);
    let subscribed = [];
    let msg = null;
    if (topic) {
      const list = await admin(['topicList', '-c'], { quiet: true }).catch(() => []);
      subscribed = ((list.find((t) => t.topic === topic) || {}).groups) || [];
      const found = await admin(['queryMsgByUniqueKey', '-t', topic, '-i', id], { quiet: true }).catch(() => []);
      msg = found[0] || null;
    }
    const byOffsets = msg ? await Apogee.consumptionOf(msg) : [];
    const verdicts = Apogee.traceVerdicts(traces, subscribed, byOffsets);
    const t0 = traces.length ? traces[0].timestamp : 0;

    const summary = [];
    if (!traces.length) {
      summary.push(h('p', { class: 'warning', testid: 'trace-empty' }, `No trace record for ${id} in ${res.traceTopic}. Clients write traces only with tracing on (enableMsgTrace); the trace topic may also differ.`));
    } else if (!pub) {
      summary.push(h('p', { class: 'warning' }, 'No Pub record: the producer does not trace, or its record is not stored yet.'));
    } else {
      summary.push(h('p', { testid: 'trace-pub' }, `Sent to ${pub.topic} by ${pub.group} at ${pub.clientHost}, ${fmtTime(pub.timestamp)}, in ${pub.costTime} ms: `,
        h('span', { class: `badge ${pub.success === false ? 'failed' : 'consumed'}` }, pub.status || (pub.success ? 'success' : 'failed')),
        pub.storeHost ? ` — stored on ${pub.storeHost}` : ''));
    }
    const verdictList = h('ul', { class: 'verdicts', testid: 'trace-verdicts' }, verdicts.map((v) =>
      h('li', { class: v.state, testid: `verdict-${v.state}`, 'data-group': v.group },
        h('span', { class: `badge ${v.state}` }, v.state), ' ', link(`#/consumer/${enc(v.group)}`, v.group), ': ', v.text,
        v.dlq ? [' ', link(`#/dlq/${enc(v.group)}`, 'look in the dead letters →', { testid: 'verdict-dlq' })] : null)));

    const timeline = h('ol', { class: 'timeline', testid: 'trace-timeline' }, traces.map((t) =>
      h('li', { class: `tl ${t.type} ${t.success === false || t.status === 'failed' ? 'failed' : ''}` },
        h('b', null, t.type), ` +${t.timestamp - t0} ms`, h('span', { class: 'muted' }, ` ${t.group} @ ${t.clientHost}`))));

    view.append(
      card('Summary', 'trace-summary', summary, verdicts.length ? verdictList : h('p', { class: 'muted' }, 'No consumer group subscribes to the topic.'),
        msg ? h('p', null, link(`#/message/${enc(msg.offsetMsgId)}`, 'View the message →', { testid: 'trace-message' })) : null),
      traces.length ? card('Timeline', 'trace-timeline-card', timeline, table([
        { label: 'Type', render: (t) => h('b', null, t.type) },
        { label: 'Time', render: (t) => fmtTime(t.timestamp), cls: 'nowrap' },
        { label: '+ms', render: (t) => String(t.timestamp - t0), cls: 'num' },
        { label: 'Group', key: 'group' },
        { label: 'Client host', key: 'clientHost' },
        { label: 'Store host', key: 'storeHost' },
        { label: 'Cost (ms)', key: 'costTime', cls: 'num' },
        { label: 'Status', render: (t) => h('span', { class: `badge ${t.success === false || t.status === 'failed' ? 'failed' : 'consumed'}` }, t.status || String(t.success)) },
        { label: 'Retries', key: 'retryTimes', cls: 'num' },
        { label: 'Tags', key: 'tags' },
        { label: 'Keys', key: 'keys' },
      ], traces, { testid: 'trace-table' })) : null);
  };
})();
