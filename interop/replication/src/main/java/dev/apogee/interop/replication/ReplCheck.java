package dev.apogee.interop.replication;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.impl.MQClientAPIImpl;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.protocol.body.ClusterInfo;
import org.apache.rocketmq.remoting.protocol.body.KVTable;
import org.apache.rocketmq.remoting.protocol.route.BrokerData;
import org.apache.rocketmq.remoting.protocol.route.QueueData;
import org.apache.rocketmq.remoting.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

/**
 * The replication harness's client side (interop/replication/run.sh runs it inside the
 * harness's network namespace, one step per invocation):
 *
 * <pre>
 *   ReplCheck setup    --namesrv A --label L --broker-name B --master ADDR --slave ADDR
 *                      --topic T --probe-topic P --queues N --timeout S
 *   ReplCheck produce  --namesrv A --label L --topic T --probe-topic P --count N --out FILE
 *                      --timeout S
 *   ReplCheck catchup  --namesrv A --label L --broker-name B --master ADDR --slave ADDR
 *                      --topic T --queues N --count N --timeout S
 *   ReplCheck failover --namesrv A --label L --broker-name B --slave ADDR --topic T --timeout S
 *   ReplCheck consume  --namesrv A --label L --topic T --group G --in FILE --count N --queues N
 *                      --timeout S
 * </pre>
 *
 * catchup and consume also give up once nothing has moved for --stall seconds (default 30).
 * Every check prints one line on stdout, {@code PASS [L] check: detail} or
 * {@code FAIL [L] check: detail}; the exit status is 0 only if every check passed.
 * Progress goes to stderr.
 */
public final class ReplCheck {
    private final Map<String, String> opts = new HashMap<>();
    private String label = "?";
    private int failures = 0;

    public static void main(String[] args) {
        if (args.length == 0) {
            System.err.println("usage: ReplCheck setup|produce|catchup|failover|consume --opt value ...");
            System.exit(64);
        }
        ReplCheck check = new ReplCheck();
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                System.err.println("ReplCheck: expected --option, got " + args[i]);
                System.exit(64);
            }
            check.opts.put(args[i].substring(2), args[i + 1]);
        }
        check.label = check.opts.getOrDefault("label", "?");
        try {
            switch (args[0]) {
                case "setup" -> check.setup();
                case "produce" -> check.produce();
                case "catchup" -> check.catchup();
                case "failover" -> check.failover();
                case "consume" -> check.consume();
                default -> {
                    System.err.println("ReplCheck: unknown step " + args[0]);
                    System.exit(64);
                }
            }
        } catch (Throwable e) {
            check.verdict(false, args[0], "aborted: " + e);
            e.printStackTrace();
        }
        System.out.flush();
        // Client threads (netty, schedulers) must not keep the JVM alive.
        Runtime.getRuntime().halt(check.failures == 0 ? 0 : 1);
    }

    // ---- options and verdicts ----

    private String opt(String name) {
        String v = opts.get(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("missing --" + name);
        }
        return v;
    }

    private int intOpt(String name) {
        return Integer.parseInt(opt(name));
    }

    private long deadline() {
        return System.currentTimeMillis() + 1000L * intOpt("timeout");
    }

    private void verdict(boolean ok, String check, String detail) {
        if (!ok) {
            failures++;
        }
        System.out.println((ok ? "PASS" : "FAIL") + " [" + label + "] " + check + ": " + detail);
        System.out.flush();
    }

    private static void progress(String text) {
        System.err.println(java.time.LocalTime.now() + " replcheck: " + text);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RuntimeException(e);
        }
    }

    private DefaultMQAdminExt admin() throws Exception {
        DefaultMQAdminExt admin = new DefaultMQAdminExt(5000);
        admin.setNamesrvAddr(opt("namesrv"));
        admin.setInstanceName("repl_admin_" + ProcessHandle.current().pid());
        admin.setAdminExtGroup("repl_admin_" + ProcessHandle.current().pid());
        admin.start();
        return admin;
    }

    private static MQClientAPIImpl api(DefaultMQAdminExt admin) {
        return admin.getDefaultMQAdminExtImpl().getMqClientInstance().getMQClientAPIImpl();
    }

    /** The message body for key number i: deterministic, so the consumer can check it. */
    static String body(String label, int i) {
        StringBuilder b = new StringBuilder(200);
        b.append("apogee-replication ").append(label).append(' ').append(i).append(' ');
        long x = 0x9E3779B97F4A7C15L * (i + 1) ^ label.hashCode();
        while (b.length() < 200) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            b.append(Character.forDigit((int) ((x >>> 1) % 36), 36));
        }
        return b.toString();
    }

    static String key(String label, int i) {
        return String.format("%s-%05d", label, i);
    }

    // ---- setup: both brokers registered, topics created on each ----

    private void setup() throws Exception {
        String brokerName = opt("broker-name");
        String master = opt("master");
        String slave = opt("slave");
        int queues = intOpt("queues");
        long deadline = deadline();
        DefaultMQAdminExt admin = admin();
        try {
            // 1. The name server lists brokerName with brokerId 0 = master and 1 = slave.
            String seen = "nothing";
            boolean registered = false;
            while (System.currentTimeMillis() < deadline) {
                try {
                    ClusterInfo info = admin.examineBrokerClusterInfo();
                    BrokerData bd = info.getBrokerAddrTable() == null ? null
                            : info.getBrokerAddrTable().get(brokerName);
                    seen = bd == null ? "no " + brokerName : new TreeMap<>(bd.getBrokerAddrs()).toString();
                    if (bd != null && master.equals(bd.getBrokerAddrs().get(0L))
                            && slave.equals(bd.getBrokerAddrs().get(1L))) {
                        registered = true;
                        break;
                    }
                } catch (Exception e) {
                    seen = e.toString();
                }
                sleep(500);
            }
            verdict(registered, "cluster",
                    brokerName + " registered as " + seen + " (want {0=" + master + ", 1=" + slave + "})");
            if (!registered) {
                return;
            }

            // 2. The topics exist on both brokers (the Java slave copies topic config from the
            //    master only every few seconds, so it gets them explicitly too).
            List<String> topics = List.of(opt("topic"), opt("probe-topic"));
            for (String addr : List.of(master, slave)) {
                String error = null;
                for (String topic : topics) {
                    TopicConfig tc = new TopicConfig(topic, queues, queues, 6);
                    error = retry(deadline, () -> admin.createAndUpdateTopicConfig(addr, tc));
                    if (error != null) {
                        break;
                    }
                }
                verdict(error == null, "create topics on " + (addr.equals(master) ? "master " : "slave ") + addr,
                        error == null ? topics + " with " + queues + " queues" : error);
            }

            // 3. The route of the topic has the queues and the master (what producers need).
            String topic = opt("topic");
            String route = "none";
            boolean ok = false;
            while (System.currentTimeMillis() < deadline) {
                try {
                    TopicRouteData rd = admin.examineTopicRouteInfo(topic);
                    route = describe(rd);
                    ok = hasQueues(rd, brokerName, queues) && brokerAddrs(rd, brokerName).containsKey(0L);
                    if (ok) {
                        break;
                    }
                } catch (Exception e) {
                    route = e.toString();
                }
                sleep(500);
            }
            verdict(ok, "route", topic + ": " + route);
        } finally {
            admin.shutdown();
        }
    }

    interface Step {
        void run() throws Exception;
    }

    /** Runs step until it succeeds or the deadline passes; null on success, else the last error. */
    private static String retry(long deadline, Step step) {
        String last = null;
        do {
            try {
                step.run();
                return null;
            } catch (Exception e) {
                last = e.toString();
                sleep(500);
            }
        } while (System.currentTimeMillis() < deadline);
        return last;
    }

    private static Map<Long, String> brokerAddrs(TopicRouteData rd, String brokerName) {
        if (rd == null || rd.getBrokerDatas() == null) {
            return Map.of();
        }
        for (BrokerData bd : rd.getBrokerDatas()) {
            if (brokerName.equals(bd.getBrokerName())) {
                return bd.getBrokerAddrs() == null ? Map.of() : bd.getBrokerAddrs();
            }
        }
        return Map.of();
    }

    private static boolean hasQueues(TopicRouteData rd, String brokerName, int queues) {
        if (rd == null || rd.getQueueDatas() == null) {
            return false;
        }
        for (QueueData qd : rd.getQueueDatas()) {
            if (brokerName.equals(qd.getBrokerName()) && qd.getReadQueueNums() == queues) {
                return true;
            }
        }
        return false;
    }

    private static String describe(TopicRouteData rd) {
        StringBuilder b = new StringBuilder();
        for (BrokerData bd : rd.getBrokerDatas()) {
            b.append(bd.getBrokerName()).append(new TreeMap<>(bd.getBrokerAddrs())).append(' ');
        }
        for (QueueData qd : rd.getQueueDatas()) {
            b.append(qd.getBrokerName()).append(" r=").append(qd.getReadQueueNums())
                    .append(" w=").append(qd.getWriteQueueNums()).append(' ');
        }
        return b.toString().trim();
    }

    // ---- produce: a probe until SEND_OK, then count messages to the master ----

    private void produce() throws Exception {
        String topic = opt("topic");
        int count = intOpt("count");
        int threads = Integer.parseInt(opts.getOrDefault("threads", "8"));
        long deadline = deadline();
        DefaultMQProducer producer = new DefaultMQProducer("repl_producer_" + label);
        producer.setNamesrvAddr(opt("namesrv"));
        producer.setInstanceName("repl_producer_" + ProcessHandle.current().pid());
        producer.setSendMsgTimeout(10_000);
        producer.setVipChannelEnabled(false);
        producer.start();
        try {
            // A SYNC_MASTER answers SEND_OK only once a slave has acknowledged the message: the
            // probe succeeding means the HA link is up. (An ASYNC_MASTER answers SEND_OK at once.)
            String probeTopic = opt("probe-topic");
            String last = "nothing sent";
            boolean probed = false;
            int attempts = 0;
            long t0 = System.currentTimeMillis();
            while (System.currentTimeMillis() < deadline) {
                attempts++;
                try {
                    SendResult r = producer.send(new Message(probeTopic, "probe",
                            ("probe " + attempts).getBytes(StandardCharsets.UTF_8)));
                    last = r.getSendStatus() + " from " + r.getMessageQueue();
                    if (r.getSendStatus() == SendStatus.SEND_OK) {
                        probed = true;
                        break;
                    }
                } catch (Exception e) {
                    last = e.toString();
                }
                sleep(500);
            }
            verdict(probed, "probe send", last + " after " + attempts + " attempt(s), "
                    + (System.currentTimeMillis() - t0) + " ms");
            if (!probed) {
                return;
            }

            String[] lines = new String[count];
            Map<String, AtomicInteger> statuses = new ConcurrentHashMap<>();
            AtomicInteger errors = new AtomicInteger();
            List<String> firstErrors = new ArrayList<>();
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            long t1 = System.currentTimeMillis();
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                final int start = t;
                futures.add(pool.submit(() -> {
                    for (int i = start; i < count; i += threads) {
                        String key = key(label, i);
                        Message m = new Message(topic, "repl", key, body(label, i).getBytes(StandardCharsets.UTF_8));
                        try {
                            SendResult r = producer.send(m);
                            statuses.computeIfAbsent(r.getSendStatus().name(), s -> new AtomicInteger()).incrementAndGet();
                            lines[i] = key + "\t" + r.getMessageQueue().getQueueId() + "\t" + r.getQueueOffset()
                                    + "\t" + r.getOffsetMsgId() + "\t" + r.getSendStatus();
                        } catch (Exception e) {
                            errors.incrementAndGet();
                            synchronized (firstErrors) {
                                if (firstErrors.size() < 3) {
                                    firstErrors.add(key + ": " + e);
                                }
                            }
                        }
                    }
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
            pool.shutdown();
            long ms = System.currentTimeMillis() - t1;
            try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(Path.of(opt("out"))))) {
                for (String line : lines) {
                    if (line != null) {
                        w.println(line);
                    }
                }
            }
            int ok = statuses.getOrDefault("SEND_OK", new AtomicInteger()).get();
            verdict(ok == count && errors.get() == 0, "send " + count,
                    "statuses " + new TreeMap<>(statuses) + ", " + errors.get() + " exception(s) " + firstErrors
                            + " in " + ms + " ms (" + (ms == 0 ? "-" : count * 1000L / ms) + " msg/s)");
        } finally {
            producer.shutdown();
        }
    }

    // ---- catchup: the slave's queue offsets reach the master's ----

    private void catchup() throws Exception {
        String brokerName = opt("broker-name");
        String topic = opt("topic");
        String master = opt("master");
        String slave = opt("slave");
        int queues = intOpt("queues");
        int count = intOpt("count");
        long deadline = deadline();
        DefaultMQAdminExt admin = admin();
        try {
            MQClientAPIImpl api = api(admin);
            long t0 = System.currentTimeMillis();
            long[] m = new long[queues];
            long[] s = new long[queues];
            String error = null;
            boolean caughtUp = false;
            boolean stalled = false;
            long stall = 1000L * Integer.parseInt(opts.getOrDefault("stall", "30"));
            long lastSum = -1;
            long lastChange = System.currentTimeMillis();
            while (System.currentTimeMillis() < deadline) {
                try {
                    error = null;
                    for (int q = 0; q < queues; q++) {
                        MessageQueue mq = new MessageQueue(topic, brokerName, q);
                        m[q] = api.getMaxOffset(master, mq, 3000);
                        s[q] = api.getMaxOffset(slave, mq, 3000);
                    }
                    if (java.util.Arrays.equals(m, s) && sum(m) >= count) {
                        caughtUp = true;
                        break;
                    }
                } catch (Exception e) {
                    error = e.toString();
                }
                if (sum(s) != lastSum) {
                    lastSum = sum(s);
                    lastChange = System.currentTimeMillis();
                } else if (System.currentTimeMillis() - lastChange > stall) {
                    stalled = true;
                    break;
                }
                sleep(500);
            }
            long ms = System.currentTimeMillis() - t0;
            verdict(caughtUp, "slave caught up",
                    "max offsets master " + java.util.Arrays.toString(m) + " (sum " + sum(m) + "), slave "
                            + java.util.Arrays.toString(s) + " (sum " + sum(s) + ")"
                            + (error == null ? "" : ", last error " + error) + " after " + ms + " ms"
                            + (stalled ? " (the slave's offsets stopped moving for " + stall / 1000 + " s)" : ""));
            verdict(sum(m) == count, "master holds " + count, "sum of the master's max offsets " + sum(m));
            // Informational: the commit log lengths (GET_BROKER_RUNTIME_INFO), if both report them.
            progress("commitLogMaxOffset master=" + runtime(admin, master, "commitLogMaxOffset")
                    + " slave=" + runtime(admin, slave, "commitLogMaxOffset"));
        } finally {
            admin.shutdown();
        }
    }

    private static long sum(long[] a) {
        long t = 0;
        for (long v : a) {
            t += v;
        }
        return t;
    }

    private static String runtime(DefaultMQAdminExt admin, String addr, String key) {
        try {
            KVTable kv = admin.fetchBrokerRuntimeStats(addr);
            return kv.getTable().getOrDefault(key, "(absent)");
        } catch (Exception e) {
            return "(" + e.getClass().getSimpleName() + ")";
        }
    }

    // ---- failover: with the master gone, the route lists the slave only ----

    private void failover() throws Exception {
        String brokerName = opt("broker-name");
        String slave = opt("slave");
        String topic = opt("topic");
        long deadline = deadline();
        DefaultMQAdminExt admin = admin();
        try {
            long t0 = System.currentTimeMillis();
            String route = "none";
            boolean ok = false;
            while (System.currentTimeMillis() < deadline) {
                try {
                    TopicRouteData rd = admin.examineTopicRouteInfo(topic);
                    route = describe(rd);
                    Map<Long, String> addrs = brokerAddrs(rd, brokerName);
                    ok = addrs.size() == 1 && slave.equals(addrs.get(1L)) && !rd.getQueueDatas().isEmpty();
                    if (ok) {
                        break;
                    }
                } catch (Exception e) {
                    route = e.toString();
                }
                sleep(500);
            }
            verdict(ok, "route without master", topic + ": " + route + " after "
                    + (System.currentTimeMillis() - t0) + " ms (want only 1=" + slave + ")");
        } finally {
            admin.shutdown();
        }
    }

    // ---- consume: everything the producer sent, from the slave ----

    private record Sent(String key, int queueId, long queueOffset, String offsetMsgId) {
    }

    private void consume() throws Exception {
        String topic = opt("topic");
        int count = intOpt("count");
        long deadline = deadline();
        Map<String, Sent> sent = new HashMap<>();
        for (String line : Files.readAllLines(Path.of(opt("in")))) {
            String[] f = line.split("\t");
            sent.put(f[0], new Sent(f[0], Integer.parseInt(f[1]), Long.parseLong(f[2]), f[3]));
        }
        progress("expecting " + sent.size() + " message(s) recorded by the producer");

        DefaultLitePullConsumer consumer = new DefaultLitePullConsumer(opt("group"));
        consumer.setNamesrvAddr(opt("namesrv"));
        consumer.setInstanceName("repl_consumer_" + ProcessHandle.current().pid());
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.setAutoCommit(false);
        // Each pull task blocks its thread while the broker holds a pull on a drained queue
        // (long polling, up to 20 s): with fewer threads than queues, the rest would starve.
        consumer.setPullThreadNums(Math.max(20, 2 * Integer.parseInt(opts.getOrDefault("queues", "8"))));
        consumer.setPullBatchSize(32);
        consumer.setVipChannelEnabled(false);
        consumer.setSubExpressionForAssign(topic, "*");
        consumer.start();
        Set<String> keys = new HashSet<>();
        int received = 0;
        int foreign = 0;
        int badBody = 0;
        Map<String, Boolean> matched = new HashMap<>();
        Map<Integer, Integer> perQueue = new HashMap<>();
        Map<Integer, Long> nextOffset = new HashMap<>();
        boolean stalled = false;
        List<String> mismatches = new ArrayList<>();
        List<String> examples = new ArrayList<>();
        long t0 = System.currentTimeMillis();
        try {
            Collection<MessageQueue> mqs = consumer.fetchMessageQueues(topic);
            progress("assigned " + mqs.size() + " queue(s): " + mqs);
            consumer.assign(mqs);
            long lastProgress = System.currentTimeMillis();
            long stall = 1000L * Integer.parseInt(opts.getOrDefault("stall", "30"));
            long lastNew = System.currentTimeMillis();
            while (keys.size() < sent.size() && System.currentTimeMillis() < deadline) {
                if (System.currentTimeMillis() - lastNew > stall) {
                    stalled = true;
                    break;
                }
                int before = keys.size();
                List<MessageExt> batch = consumer.poll(1000);
                for (MessageExt msg : batch) {
                    received++;
                    String key = msg.getKeys();
                    Sent s = key == null ? null : sent.get(key);
                    if (s == null || !topic.equals(msg.getTopic())) {
                        foreign++;
                        note(examples, "unexpected message keys=" + key + " topic=" + msg.getTopic());
                        continue;
                    }
                    int i = Integer.parseInt(key.substring(key.lastIndexOf('-') + 1));
                    String body = new String(msg.getBody(), StandardCharsets.UTF_8);
                    if (!body.equals(body(label, i)) || !"repl".equals(msg.getTags())) {
                        badBody++;
                        note(examples, key + ": body/tag differ (tag " + msg.getTags() + ", " + body.length() + " chars)");
                    }
                    String offsetMsgId = msg instanceof MessageClientExt c ? c.getOffsetMsgId() : msg.getMsgId();
                    // A send retried after a timeout may be stored twice: the key passes if one
                    // of its copies sits where the master said it put it.
                    boolean here = msg.getQueueId() == s.queueId() && msg.getQueueOffset() == s.queueOffset()
                            && s.offsetMsgId().equalsIgnoreCase(offsetMsgId);
                    matched.merge(key, here, Boolean::logicalOr);
                    if (!here && mismatches.size() < 5) {
                        mismatches.add(key + ": at queue " + msg.getQueueId() + " offset " + msg.getQueueOffset()
                                + " id " + offsetMsgId + ", master said queue " + s.queueId() + " offset "
                                + s.queueOffset() + " id " + s.offsetMsgId());
                    }
                    keys.add(key);
                    perQueue.merge(msg.getQueueId(), 1, Integer::sum);
                    nextOffset.merge(msg.getQueueId(), msg.getQueueOffset() + 1, Math::max);
                }
                if (keys.size() != before) {
                    lastNew = System.currentTimeMillis();
                }
                if (System.currentTimeMillis() - lastProgress > 5000) {
                    progress(keys.size() + "/" + sent.size() + " distinct keys so far; per queue "
                            + new TreeMap<>(perQueue) + ", next offsets " + new TreeMap<>(nextOffset));
                    lastProgress = System.currentTimeMillis();
                }
            }
        } finally {
            consumer.shutdown();
        }
        long ms = System.currentTimeMillis() - t0;
        long badIdentity = matched.values().stream().filter(ok -> !ok).count();
        verdict(keys.size() == count && sent.size() == count, "consume " + count + " from slave",
                keys.size() + " distinct keys of " + sent.size() + " sent (" + received + " messages received, "
                        + foreign + " unexpected) in " + ms + " ms"
                        + (stalled ? " (nothing new for " + opts.getOrDefault("stall", "30") + " s)" : "")
                        + (keys.size() < sent.size() ? "; per queue " + new TreeMap<>(perQueue) : ""));
        if (received == 0) {
            return; // nothing to check the bodies and positions of (the count check failed)
        }
        verdict(badBody == 0 && foreign == 0, "bodies and tags",
                badBody == 0 && foreign == 0 ? "all as sent" : badBody + " differ, " + foreign + " unexpected " + examples);
        verdict(badIdentity == 0, "queue offsets and message ids",
                badIdentity == 0 ? "every message at the queue, queue offset and commit log offset the master reported"
                        : badIdentity + " key(s) differ " + mismatches);
    }

    private static void note(List<String> examples, String text) {
        if (examples.size() < 5) {
            examples.add(text);
        }
    }

    private ReplCheck() {
    }
}
