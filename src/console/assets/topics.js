'use strict';
// Apogee console, part 2 of 3: topics (list, create/update, delete, a topic's route, queues
// and test send) and consumer groups (list, members and subscriptions, lag, offset reset).

(function () {
  const { h, admin, table, card, field, link, enc, fmtTime, fmtNum, fmtAgo, busy, jsonView } = Apogee;

  const SYSTEM_PREFIXES = ['%RETRY%', '%DLQ%', 'RMQ_SYS_', 'rmq_sys_', '%SYS%'];
  const SYSTEM_NAMES = ['TBW102', 'SCHEDULE_TOPIC_XXXX', 'OFFSET_MOVED_EVENT', 'SELF_TEST_TOPIC', 'BenchmarkTest', 'TRANS_CHECK_MAX_TIME_TOPIC'];
  // A topic the broker keeps for itself: the names above, a cluster's or broker's own name,
  // a cluster's reply topic.
  function isSystemTopic(t, clusterNames, brokerNames) {
    return SYSTEM_PREFIXES.some((p) => t.startsWith(p)) || SYSTEM_NAMES.includes(t) ||
      clusterNames.has(t) || brokerNames.has(t) || [...clusterNames].some((c) => t === `${c}_REPLY_TOPIC`);
  }

  // ---------- topics ----------

  function topicForm(clusters, onDone, preset = {}) {
    const clusterNames = [...new Set(clusters.map((b) => b.cluster))];
    const target = Apogee.select({ id: 'topic-form-target', testid: 'topic-form-target' }, [
      ...clusterNames.map((c) => [`c:${c}`, `cluster ${c} (every master)`]),
      ...clusters.filter((b) => b.brokerId === 0).map((b) => [`b:${b.addr}`, `broker ${b.brokerName} (${b.addr})`]),
    ]);
    const name = h('input', { id: 'topic-form-name', testid: 'topic-form-name', required: true, placeholder: 'TopicName', value: preset.topic || '', pattern: '[A-Za-z0-9_%|-]+' });
    const rq = h('input', { id: 'topic-form-read', testid: 'topic-form-read', type: 'number', min: 1, max: 1024, value: preset.read || 8 });
    const wq = h('input', { id: 'topic-form-write', testid: 'topic-form-write', type: 'number', min: 1, max: 1024, value: preset.write || 8 });
    const perm = Apogee.select({ id: 'topic-form-perm', testid: 'topic-form-perm' }, [['6', '6 read + write'], ['4', '4 read only'], ['2', '2 write only']]);
    if (preset.perm) perm.value = String(preset.perm);
    const order = h('input', { id: 'topic-form-order', testid: 'topic-form-order', type: 'checkbox', checked: !!preset.order });
    const submit = h('button', { type: 'submit', id: 'topic-form-submit', testid: 'topic-form-submit', class: 'primary' }, 'Create / update');
    const out = h('div', { id: 'topic-form-result', testid: 'topic-form-result', class: 'result' });
    const form = h('form', { id: 'topic-form', testid: 'topic-form', class: 'form-grid' },
      field('Topic', name), field('On', target), field('Read queues', rq), field('Write queues', wq), field('Permission', perm),
      h('label', { class: 'field check' }, order, h('span', null, 'Ordered')), h('div', { class: 'actions' }, submit), out);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, out, async () => {
        const [kind, where] = [target.value.slice(0, 1), target.value.slice(2)];
        const args = ['updateTopic', kind === 'c' ? '-c' : '-b', where, '-t', name.value.trim(), '-r', rq.value, '-w', wq.value, '-p', perm.value];
        if (order.checked) args.push('-o', 'true');
        const res = await admin(args);
        out.replaceChildren(h('p', { class: 'ok', testid: 'topic-form-ok' }, `Topic ${res.topic} written on ${(res.brokers || []).join(', ')}.`));
        if (onDone) await onDone(res.topic);
      });
    });
    return form;
  }

  Apogee.routes.topics = async function (view, ctx) {
    const [list, clusters] = await Promise.all([admin(['topicList', '-c']), admin(['clusterList'])]);
    const clusterNames = new Set(clusters.map((b) => b.cluster));
    const brokerNames = new Set(clusters.map((b) => b.brokerName));
    const filter = h('input', { id: 'topic-filter', testid: 'topic-filter', type: 'search', placeholder: 'Filter topics…', value: ctx.query.q || '' });
    const showSys = h('input', { id: 'topic-show-system', testid: 'topic-show-system', type: 'checkbox' });
    const count = h('span', { class: 'muted', testid: 'topic-count' });
    const box = h('div');
    function render() {
      const q = filter.value.trim().toLowerCase();
      const rows = list.filter((t) => (showSys.checked || !isSystemTopic(t.topic, clusterNames, brokerNames)) && t.topic.toLowerCase().includes(q))
        .sort((a, b) => a.topic.localeCompare(b.topic));
      count.textContent = `${rows.length} of ${list.length} topics`;
      box.replaceChildren(table([
        { label: 'Topic', render: (t) => link(`#/topic/${enc(t.topic)}`, t.topic, { testid: 'topic-link' }) },
        { label: 'Cluster', key: 'cluster' },
        { label: 'Consumer groups', render: (t) => (t.groups || []).length ? t.groups.map((g) => link(`#/consumer/${enc(g)}`, g, { class: 'chip' })) : h('span', { class: 'muted' }, 'none') },
        { label: '', cls: 'right', render: (t) => h('button', { class: 'danger small', testid: 'topic-delete', onclick: () => del(t) }, 'Delete') },
      ], rows, { testid: 'topic-table', rowKey: (t) => t.topic, empty: 'No topic matches.' }));
    }
    async function del(t) {
      if (!confirm(`Delete topic ${t.topic} from cluster ${t.cluster} and the name servers?`)) return;
      await admin(['deleteTopic', '-t', t.topic, '-c', t.cluster]);
      Apogee.go('#/topics');
    }
    filter.addEventListener('input', render);
    showSys.addEventListener('change', render);
    render();
    view.append(
      h('h1', null, 'Topics'),
      card(null, 'topic-list-card', h('div', { class: 'toolbar' }, filter, h('label', { class: 'check' }, showSys, ' system topics'), count), box),
      card('Create or update a topic', 'topic-form-card', topicForm(clusters, async (created) => {
        // The broker tells the name servers about a new topic a moment later: wait for it.
        for (let i = 0; i < 25; i++) {
          const names = await admin(['topicList']).catch(() => []);
          if (JSON.stringify(names).includes(JSON.stringify(created))) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        Apogee.go('#/topics');
      })));
  };

  Apogee.routes.topic = async function (view, ctx) {
    const topic = ctx.params[0];
    view.append(h('h1', null, h('a', { href: '#/topics', class: 'crumb' }, 'Topics'), ' / ', h('span', { testid: 'topic-name' }, topic)));
    const [route, status, list] = await Promise.all([
      admin(['topicRoute', '-t', topic]), admin(['topicStatus', '-t', topic]), admin(['topicList', '-c']).catch(() => []),
    ]);
    const addr = Object.fromEntries(route.brokerDatas.map((b) => [b.brokerName, b]));
    const routeRows = route.queueDatas.map((q) => ({ ...q, cluster: (addr[q.brokerName] || {}).cluster, addrs: (addr[q.brokerName] || {}).brokerAddrs || {} }));
    const total = status.reduce((s, q) => s + (q.maxOffset - q.minOffset), 0);
    const last = Math.max(0, ...status.map((q) => q.lastUpdateTimestamp || 0));
    const groups = ((list.find((t) => t.topic === topic) || {}).groups) || [];
    const perm = (p) => ({ 6: 'RW', 4: 'R', 2: 'W', 0: '—' })[p] || String(p);

    view.append(
      h('div', { class: 'stats' },
        h('div', { class: 'stat' }, h('span', null, 'Queues'), h('b', { testid: 'topic-queues' }, status.length)),
        h('div', { class: 'stat' }, h('span', null, 'Messages stored'), h('b', { testid: 'topic-total' }, fmtNum(total))),
        h('div', { class: 'stat' }, h('span', null, 'Last write'), h('b', null, last ? fmtAgo(last) : 'never')),
        h('div', { class: 'stat' }, h('span', null, 'Groups'), h('b', null, groups.length ? groups.map((g) => link(`#/consumer/${enc(g)}`, g, { class: 'chip' })) : 'none'))),
      card('Route', 'topic-route', table([
        { label: 'Cluster', key: 'cluster' },
        { label: 'Broker', key: 'brokerName' },
        { label: 'Addresses', render: (r) => Object.entries(r.addrs).map(([id, a]) => h('code', { class: 'chip' }, `${id === '0' ? 'master' : 'slave ' + id} ${a}`)) },
        { label: 'Read queues', key: 'readQueueNums', cls: 'num' },
        { label: 'Write queues', key: 'writeQueueNums', cls: 'num' },
        { label: 'Perm', render: (r) => `${r.perm} (${perm(r.perm)})` },
        { label: 'Sys flag', key: 'topicSysFlag', cls: 'num' },
      ], routeRows, { testid: 'route-table' })),
      card('Queues', 'topic-status', table([
        { label: 'Broker', key: 'brokerName' },
        { label: 'Queue', key: 'queueId', cls: 'num' },
        { label: 'Min offset', render: (q) => fmtNum(q.minOffset), cls: 'num' },
        { label: 'Max offset', render: (q) => fmtNum(q.maxOffset), cls: 'num' },
        { label: 'Messages', render: (q) => fmtNum(q.maxOffset - q.minOffset), cls: 'num' },
        { label: 'Last update', render: (q) => (q.lastUpdateTimestamp ? `${fmtTime(q.lastUpdateTimestamp)} (${fmtAgo(q.lastUpdateTimestamp)})` : '—') },
      ], status.slice().sort((a, b) => a.brokerName.localeCompare(b.brokerName) || a.queueId - b.queueId),
      { testid: 'status-table', rowKey: (q) => `${q.brokerName}:${q.queueId}` })),
      card('Send a test message', 'send-card', sendForm(topic)),
      h('p', null, link(`#/messages?mode=time&topic=${enc(topic)}`, 'Browse this topic\'s messages →', { testid: 'topic-browse' })));
  };

  function sendForm(topic) {
    const body = h('textarea', { id: 'send-body', testid: 'send-body', rows: 3, required: true, placeholder: 'Message body' });
    const keys = h('input', { id: 'send-keys', testid: 'send-keys', placeholder: 'key (optional)' });
    const tags = h('input', { id: 'send-tags', testid: 'send-tags', placeholder: 'tag (optional)' });
    const submit = h('button', { type: 'submit', id: 'send-submit', testid: 'send-submit', class: 'primary' }, 'Send');
    const out = h('div', { id: 'send-result', testid: 'send-result', class: 'result' });
    const form = h('form', { id: 'send-form', class: 'form-grid' }, field('Body', body), field('Keys', keys), field('Tags', tags), h('div', { class: 'actions' }, submit), out);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, out, async () => {
        const args = ['sendMessage', '-t', topic, '-p', body.value];
        if (keys.value.trim()) args.push('-k', keys.value.trim());
        if (tags.value.trim()) args.push('-c', tags.value.trim());
        const r = await admin(args);
        out.replaceChildren(
          h('p', { class: r.sendStatus === 'SEND_OK' ? 'ok' : 'fail', testid: 'send-status' }, r.sendStatus),
          jsonView(r, 'send-result-table'),
          h('p', null, link(`#/message/${enc(r.offsetMsgId)}`, 'View the message →', { testid: 'send-view' })));
      });
    });
    return form;
  }

  // ---------- consumers ----------

  Apogee.routes.consumers = async function (view, ctx) {
    const groups = await admin(['consumerProgress']);
    const filter = h('input', { id: 'group-filter', testid: 'group-filter', type: 'search', placeholder: 'Filter groups…' });
    const showSys = h('input', { id: 'group-show-system', type: 'checkbox' });
    const box = h('div');
    const isSys = (g) => /^(CID_RMQ_SYS_|TOOLS_CONSUMER|FILTERSRV_CONSUMER|SELF_TEST_|CID_ONSAPI_|CID_ONS-HTTP-PROXY)/.test(g) || g.startsWith('%');
    function render() {
      const q = filter.value.trim().toLowerCase();
      const rows = groups.filter((g) => (showSys.checked || !isSys(g.group)) && g.group.toLowerCase().includes(q)).sort((a, b) => a.group.localeCompare(b.group));
      box.replaceChildren(table([
        { label: 'Group', render: (g) => link(`#/consumer/${enc(g.group)}`, g.group, { testid: 'group-link' }) },
        { label: 'Members', render: (g) => (g.count ? String(g.count) : h('span', { class: 'warn-text' }, '0 (offline)')), cls: 'num' },
        { label: 'Type', key: 'type' },
        { label: 'Model', key: 'model' },
        { label: 'Version', key: 'version' },
        { label: 'Consume TPS', render: (g) => fmtNum(g.tps, 1), cls: 'num' },
        { label: 'Lag', render: (g) => h('span', { class: g.diffTotal > 0 ? 'warn-text' : null }, fmtNum(g.diffTotal)), cls: 'num' },
      ], rows, { testid: 'group-table', rowKey: (g) => g.group, empty: 'No consumer group.' }));
    }
    filter.addEventListener('input', render);
    showSys.addEventListener('change', render);
    render();
    view.append(h('h1', null, 'Consumer groups'),
      card(null, 'group-list-card', h('div', { class: 'toolbar' }, filter, h('label', { class: 'check' }, showSys, ' system groups'), h('span', { class: 'muted' }, `${groups.length} groups`)), box),
      card('Create or update a group', 'group-form-card', groupForm()));
  };

  function groupForm() {
    const name = h('input', { id: 'group-form-name', testid: 'group-form-name', required: true, placeholder: 'GroupName' });
    const retries = h('input', { id: 'group-form-retries', type: 'number', min: 0, max: 64, value: 16 });
    const submit = h('button', { type: 'submit', id: 'group-form-submit', class: 'primary' }, 'Create / update');
    const out = h('div', { class: 'result', testid: 'group-form-result' });
    const form = h('form', { class: 'form-grid' }, field('Group', name), field('Max retries', retries), h('div', { class: 'actions' }, submit), out);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, out, async () => {
        const clusters = await admin(['clusterList']);
        const cluster = clusters.length ? clusters[0].cluster : 'DefaultCluster';
        const r = await admin(['updateSubGroup', '-c', cluster, '-g', name.value.trim(), '-r', retries.value]);
        out.replaceChildren(h('p', { class: 'ok' }, `Group ${r.config.groupName} written on ${r.brokers.join(', ')}.`));
      });
    });
    return form;
  }

  // Each member's subscriptions: {topic: expression} per client id, from consumerStatus
  // (the clients' running info); consumerConnection only has the group's merged table.
  function subscriptionsOf(status) {
    const out = {};
    for (const c of status || []) {
      const subs = {};
      for (const s of (c.runningInfo && c.runningInfo.subscriptionSet) || []) {
        if (!s.topic.startsWith('%RETRY%')) subs[s.topic] = `${s.expressionType || 'TAG'}: ${s.subString}`;
      }
      out[c.clientId] = subs;
    }
    return out;
  }

  // Why the members disagree, in words (empty when they agree): different topic sets, or
  // one topic with different expressions.
  Apogee.subscriptionConflicts = function (perClient) {
    const ids = Object.keys(perClient);
    if (ids.length < 2) return [];
    const problems = [];
    const topics = new Set(ids.flatMap((id) => Object.keys(perClient[id])));
    for (const t of [...topics].sort()) {
      const missing = ids.filter((id) => !(t in perClient[id]));
      if (missing.length) problems.push(`topic ${t} is not subscribed by ${missing.join(', ')}`);
      const exprs = new Set(ids.filter((id) => t in perClient[id]).map((id) => perClient[id][t]));
      if (exprs.size > 1) problems.push(`topic ${t} has different expressions: ${[...exprs].join(' | ')}`);
    }
    return problems;
  };

  Apogee.state.lag = {}; // group -> [[t, [lag]]]

  Apogee.routes.consumer = async function (view, ctx) {
    const group = ctx.params[0];
    view.append(h('h1', null, h('a', { href: '#/consumers', class: 'crumb' }, 'Consumers'), ' / ', h('span', { testid: 'group-name' }, group)));
    const [conn, progress, status] = await Promise.all([
      admin(['consumerConnection', '-g', group], { quiet: true }).catch((e) => ({ offline: e.message })),
      admin(['consumerProgress', '-g', group]),
      admin(['consumerStatus', '-g', group], { quiet: true }).catch(() => null),
    ]);
    const members = conn.connectionSet || [];
    const perClient = subscriptionsOf(status);
    const conflicts = Apogee.subscriptionConflicts(perClient);
    const groupSubs = Object.values(conn.subscriptionTable || {}).filter((s) => !s.topic.startsWith('%RETRY%'));

    const warning = conflicts.length
      ? h('div', { class: 'warning', id: 'sub-warning', testid: 'sub-warning' },
        h('b', null, 'The members\' subscriptions differ. '),
        'A group\'s members must subscribe to the same topics with the same expressions, or some queues are not consumed and messages are filtered wrongly:',
        h('ul', null, conflicts.map((c) => h('li', null, c))))
      : null;
    const memberCard = card(`Members (${members.length})`, 'members-card',
      conn.offline ? h('p', { class: 'warn-text', testid: 'members-offline' }, `No member online: ${conn.offline}`) : null,
      warning,
      table([
        { label: 'Client id', render: (m) => h('code', null, m.clientId) },
        { label: 'Address', key: 'clientAddr' },
        { label: 'Language', key: 'language' },
        { label: 'Version', key: 'version', cls: 'num' },
        { label: 'Subscriptions', render: (m) => {
          const subs = perClient[m.clientId];
          if (!subs) return h('span', { class: 'muted' }, 'unknown');
          return Object.entries(subs).map(([t, e]) => h('span', { class: 'chip' }, `${t} · ${e}`));
        } },
      ], members, { testid: 'members-table', rowKey: (m) => m.clientId, empty: 'No member online.' }),
      groupSubs.length ? h('p', { class: 'muted' }, `Group: ${conn.consumeType || ''} ${conn.messageModel || ''}, ${conn.consumeFromWhere || ''}; subscriptions `,
        groupSubs.map((s) => h('span', { class: 'chip' }, `${s.topic} · ${s.expressionType}: ${s.subString}`))) : null);

    const lagPoints = (Apogee.state.lag[group] = Apogee.state.lag[group] || []);
    const chart = new Apogee.LineChart({ testid: 'lag-chart', points: lagPoints, unit: 'msgs', series: [{ name: 'total lag', key: 'lag', color: '#dc2626' }] });
    const totals = h('div', { class: 'stats' });
    const lagBox = h('div');
    function renderProgress(p) {
      totals.replaceChildren(
        h('div', { class: 'stat' }, h('span', null, 'Total lag'), h('b', { testid: 'lag-total' }, fmtNum(p.diffTotal))),
        h('div', { class: 'stat' }, h('span', null, 'In flight'), h('b', null, fmtNum(p.inflightTotal))),
        h('div', { class: 'stat' }, h('span', null, 'Consume TPS'), h('b', null, fmtNum(p.consumeTps, 1))));
      const queues = (p.queues || []).slice().sort((a, b) => a.topic.localeCompare(b.topic) || a.brokerName.localeCompare(b.brokerName) || a.queueId - b.queueId);
      lagBox.replaceChildren(table([
        { label: 'Topic', render: (q) => link(`#/topic/${enc(q.topic)}`, q.topic) },
        { label: 'Broker', key: 'brokerName' },
        { label: 'Queue', key: 'queueId', cls: 'num' },
        { label: 'Broker offset', render: (q) => fmtNum(q.brokerOffset), cls: 'num' },
        { label: 'Consumer offset', render: (q) => fmtNum(q.consumerOffset), cls: 'num' },
        { label: 'Lag', render: (q) => h('span', { class: q.diff > 0 ? 'warn-text' : null }, fmtNum(q.diff)), cls: 'num' },
        { label: 'In flight', render: (q) => fmtNum(q.inflight), cls: 'num' },
        { label: 'Last consumed', render: (q) => fmtTime(q.lastTimestamp) },
      ], queues, { testid: 'lag-table', rowKey: (q) => `${q.topic}:${q.brokerName}:${q.queueId}`, empty: 'No committed offset yet.' }));
      chart.push(Date.now(), [p.diffTotal]);
    }
    renderProgress(progress);

    const topics = [...new Set([...groupSubs.map((s) => s.topic), ...(progress.queues || []).map((q) => q.topic)])].filter((t) => !t.startsWith('%RETRY%')).sort();
    view.append(memberCard,
      card('Lag', 'lag-card', totals, chart.el, lagBox),
      card('Reset offsets by time', 'reset-card', resetForm(group, topics, async () => renderProgress(await admin(['consumerProgress', '-g', group])))),
      h('p', null, link(`#/dlq/${enc(group)}`, 'Dead letters of this group →', { testid: 'group-dlq' })));
    ctx.every(3000, async () => {
      const p = await admin(['consumerProgress', '-g', group], { quiet: true });
      if (ctx.alive()) renderProgress(p);
    });
  };

  function resetForm(group, topics, after) {
    const topic = topics.length
      ? Apogee.select({ id: 'reset-topic', testid: 'reset-topic' }, topics)
      : h('input', { id: 'reset-topic', testid: 'reset-topic', required: true, placeholder: 'Topic' });
    const ts = h('input', { id: 'reset-time', testid: 'reset-time', required: true, value: 'now', placeholder: 'now | ms | yyyy-MM-dd#HH:mm:ss:SSS' });
    const quick = (label, fn) => h('button', { type: 'button', class: 'small', onclick: () => { ts.value = fn(); } }, label);
    const submit = h('button', { type: 'submit', id: 'reset-submit', testid: 'reset-submit', class: 'primary' }, 'Reset offsets');
    const out = h('div', { id: 'reset-result', testid: 'reset-result', class: 'result' });
    const form = h('form', { id: 'reset-form', class: 'form-grid' },
      field('Topic', topic),
      field('To the time', ts, 'now, a time in ms, or yyyy-MM-dd#HH:mm:ss:SSS (UTC)'),
      h('div', { class: 'field' }, h('span', null, 'Quick'), h('div', { class: 'row' },
        quick('earliest', () => '0'), quick('1 hour ago', () => String(Date.now() - 3600e3)), quick('now', () => 'now'))),
      h('div', { class: 'actions' }, submit), out);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!confirm(`Move ${group}'s offsets of ${topic.value} to ${ts.value}?`)) return;
      busy(submit, out, async () => {
        const r = await admin(['resetOffsetByTime', '-g', group, '-t', topic.value.trim(), '-s', ts.value.trim()]);
        out.replaceChildren(h('p', { class: 'ok', testid: 'reset-ok' }, `Offsets of ${r.length} queues moved.`),
          table([{ label: 'Broker', key: 'brokerName' }, { label: 'Queue', key: 'queueId', cls: 'num' }, { label: 'New offset', render: (q) => fmtNum(q.offset), cls: 'num' }],
            r, { testid: 'reset-table' }));
        await after();
      });
    });
    return form;
  }
})();
