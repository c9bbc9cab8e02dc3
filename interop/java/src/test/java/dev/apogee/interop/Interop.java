package dev.apogee.interop;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;

import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragely;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Shared plumbing for the interop tests: where the name server is, unique names per run
 * and per client version, client factories, topic creation through the client's own admin
 * call, and a read-back of a whole topic with a pull consumer.
 *
 * <p>Only public client API is used, except two internal accessors that exist unchanged in
 * 4.9.x and 5.x: {@code DefaultMQProducerImpl.createTopic(key, topic, queues, sysFlag)} (the
 * public overloads differ between the two lines) and the push consumer's process-queue table
 * (to wait until a rebalance has settled before sending).
 */
final class Interop {
    /** RocketMQ's template topic whose route tells a client where it may create topics. */
    static final String TBW102 = "TBW102";
    /** Short run id so reruns against a long-lived broker never share names. */
    static final String RUN = Long.toString(System.currentTimeMillis() % 100_000_000L, 36);

    private Interop() {
    }

    static String namesrv() {
        String addr = System.getProperty("apogee.namesrv");
        if (addr == null || addr.isBlank()) {
            addr = System.getenv("APOGEE_NAMESRV");
        }
        if (addr == null || addr.isBlank()) {
            throw new IllegalStateException(
                "set -Dapogee.namesrv=HOST:PORT or APOGEE_NAMESRV (run.sh does both)");
        }
        return addr.trim();
    }

    /**
     * The broker control script run.sh writes ({@code restart-broker.sh}), from
     * -Dapogee.restartCmd or $APOGEE_RESTART_CMD; null if neither is set.
     */
    static String restartCmd() {
        String cmd = System.getProperty("apogee.restartCmd");
        if (cmd == null || cmd.isBlank()) {
            cmd = System.getenv("APOGEE_RESTART_CMD");
        }
        return cmd == null || cmd.isBlank() ? null : cmd.trim();
    }

    /**
     * The apogee binary run.sh runs (for tests that call {@code apogee admin}), from
     * -Dapogee.bin or $APOGEE_BIN; null if neither is set.
     */
    static String apogeeBin() {
        String bin = System.getProperty("apogee.bin");
        if (bin == null || bin.isBlank()) {
            bin = System.getenv("APOGEE_BIN");
        }
        return bin == null || bin.isBlank() ? null : bin.trim();
    }

    /**
     * Restarts the broker through {@link #restartCmd()} (clean stop, start on the same data
     * directory and ports, wait for the ready line) and returns the script's output. Its output
     * is read here rather than inherited: the forked test JVM's stdout is Surefire's channel.
     */
    static String restartBroker() throws IOException, InterruptedException {
        String cmd = restartCmd();
        if (cmd == null) {
            throw new IllegalStateException("no broker restart command: set -Dapogee.restartCmd="
                + "PATH or APOGEE_RESTART_CMD (run.sh writes $WORK/restart-broker.sh and sets both)");
        }
        if (!Files.isExecutable(Path.of(cmd))) {
            throw new IllegalStateException("broker restart command " + cmd
                + " is missing or not executable");
        }
        Process proc = new ProcessBuilder(cmd, "restart").redirectErrorStream(true).start();
        proc.getOutputStream().close();
        byte[] out = proc.getInputStream().readAllBytes(); // ends when the script exits
        if (!proc.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)) {
            proc.destroyForcibly();
            throw new IllegalStateException(cmd + " restart did not finish within 120 s");
        }
        String text = new String(out, StandardCharsets.UTF_8).trim();
        if (proc.exitValue() != 0) {
            throw new IllegalStateException(cmd + " restart failed (exit " + proc.exitValue()
                + "): " + text);
        }
        return text;
    }

    /** "v4" or "v5": which client line runs, so topics and groups never collide. */
    static String tag() {
        return System.getProperty("interop.tag", "vX");
    }

    static String clientVersion() {
        return System.getProperty("interop.clientVersion", "?");
    }

    /** A topic / group / instance name unique to this scenario, client line and run. */
    static String name(String kind, String scenario) {
        return "it_" + tag() + "_" + scenario + "_" + kind + "_" + RUN;
    }

    // ---------------------------------------------------------------- clients

    static DefaultMQProducer producer(String scenario, Wire wire) throws MQClientException {
        DefaultMQProducer p = new DefaultMQProducer(name("pg", scenario), wire);
        p.setNamesrvAddr(namesrv());
        p.setInstanceName(name("producer", scenario));
        p.start();
        return p;
    }

    static DefaultMQPushConsumer pushConsumer(String group, String member, String topic,
                                              String subExpression, Wire wire)
        throws MQClientException {
        DefaultMQPushConsumer c =
            new DefaultMQPushConsumer(group, wire, new AllocateMessageQueueAveragely());
        c.setNamesrvAddr(namesrv());
        c.setInstanceName(group + "_" + member);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, subExpression);
        return c;
    }

    /**
     * Sets the message model by name: the enum moved from
     * {@code org.apache.rocketmq.common.protocol.heartbeat} (4.x) to
     * {@code org.apache.rocketmq.remoting.protocol.heartbeat} (5.x).
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static void messageModel(DefaultMQPushConsumer c, String model) {
        try {
            Method setter = Arrays.stream(c.getClass().getMethods())
                .filter(m -> m.getName().equals("setMessageModel") && m.getParameterCount() == 1)
                .findFirst().orElseThrow();
            Class enumType = setter.getParameterTypes()[0];
            setter.invoke(c, Enum.valueOf(enumType, model));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot set message model " + model, e);
        }
    }

    // ---------------------------------------------------------------- topics

    /**
     * Creates {@code topic} with {@code queues} queues on every master that serves TBW102
     * (UPDATE_AND_CREATE_TOPIC), then polls the name server every 10 ms until it routes the
     * topic (GET_ROUTEINFO_BY_TOPIC) with that many write queues, and notes how long that took
     * (a RocketMQ broker registers the new topic before it answers, so there it is at once).
     */
    static List<MessageQueue> createTopic(DefaultMQProducer p, String topic, int queues,
                                          Wire wire) throws Exception {
        p.getDefaultMQProducerImpl().createTopic(TBW102, topic, queues, 0);
        long created = System.nanoTime();
        long deadline = created + Duration.ofSeconds(30).toNanos();
        int misses = 0;
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                List<MessageQueue> mqs = p.fetchPublishMessageQueues(topic);
                if (mqs.size() == queues) {
                    wire.note("topic routed " + (System.nanoTime() - created) / 1_000_000
                        + " ms after UPDATE_AND_CREATE_TOPIC returned (" + misses
                        + " lookups before it answered TOPIC_NOT_EXIST)");
                    return mqs;
                }
                last = new IllegalStateException("route has " + mqs.size() + " queues: " + mqs);
            } catch (MQClientException e) {
                last = e;
            }
            misses++;
            Thread.sleep(10);
        }
        throw new AssertionError("topic " + topic + " created but not routed by the name server"
            + " within 30 s with " + queues + " queues; last: " + last, last);
    }

    static Message message(String topic, String tag, String key) {
        byte[] body = ("apogee-interop " + key + " " + "x".repeat(64))
            .getBytes(StandardCharsets.UTF_8);
        Message m = new Message(topic, tag, key, body);
        return m;
    }

    // ---------------------------------------------------------------- reading back

    /** What a full read of a topic found. */
    static final class ReadBack {
        final Tally keys = new Tally();
        final Map<Integer, Long> maxOffsets = new TreeMap<>();
        final List<String> errors = new ArrayList<>();

        long maxOffsetSum() {
            return maxOffsets.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    /** Sum of GET_MAX_OFFSET over the topic's queues (as the client sees them). */
    static long maxOffsetSum(DefaultMQPullConsumer c, String topic) throws Exception {
        long sum = 0;
        for (MessageQueue mq : c.fetchSubscribeMessageQueues(topic)) {
            sum += c.maxOffset(mq);
        }
        return sum;
    }

    static DefaultMQPullConsumer pullConsumer(String scenario, Wire wire)
        throws MQClientException {
        DefaultMQPullConsumer c = new DefaultMQPullConsumer(name("readback", scenario), wire);
        c.setNamesrvAddr(namesrv());
        c.setInstanceName(name("readback", scenario));
        c.start();
        return c;
    }

    /** Pulls every queue of {@code topic} from offset 0 to its end (PULL_MESSAGE). */
    static ReadBack readAll(DefaultMQPullConsumer c, String topic) throws Exception {
        ReadBack rb = new ReadBack();
        for (MessageQueue mq : new TreeSet<>(c.fetchSubscribeMessageQueues(topic))) {
            long max = c.maxOffset(mq);
            rb.maxOffsets.put(mq.getQueueId(), max);
            long offset = 0;
            int emptyPulls = 0;
            while (offset < max) {
                PullResult r = c.pull(mq, "*", offset, 32, 10_000);
                switch (r.getPullStatus()) {
                    case FOUND:
                        for (MessageExt m : r.getMsgFoundList()) {
                            rb.keys.record(m.getKeys());
                        }
                        break;
                    case NO_MATCHED_MSG:
                        break;
                    default:
                        rb.errors.add("queue " + mq.getQueueId() + " offset " + offset + ": "
                            + r.getPullStatus() + " (next " + r.getNextBeginOffset()
                            + ", max " + r.getMaxOffset() + ")");
                }
                if (r.getNextBeginOffset() <= offset) {
                    if (++emptyPulls >= 3) {
                        rb.errors.add("queue " + mq.getQueueId() + " stuck at offset " + offset
                            + " below max " + max + ": " + r);
                        break;
                    }
                } else {
                    emptyPulls = 0;
                    offset = r.getNextBeginOffset();
                }
            }
        }
        return rb;
    }

    // ---------------------------------------------------------------- waiting and reporting

    /** Polls {@code done} every 50 ms; true if it held before {@code timeout}. */
    static boolean await(Duration timeout, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (done.getAsBoolean()) {
                return true;
            }
            Thread.sleep(50);
        }
        return done.getAsBoolean();
    }

    /** The queue ids of {@code topic} that a push consumer's rebalance currently holds. */
    static Set<Integer> assigned(DefaultMQPushConsumer c, String topic) {
        Set<Integer> ids = new TreeSet<>();
        c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable()
            .forEach((mq, pq) -> {
                if (mq.getTopic().equals(topic) && !pq.isDropped()) {
                    ids.add(mq.getQueueId());
                }
            });
        return ids;
    }

    static List<String> keys(String prefix, int n) {
        List<String> keys = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            keys.add(prefix + "-" + i);
        }
        return keys;
    }

    /**
     * Prints a scenario's verdict line, with the non-SUCCESS answers its clients got, and
     * appends it to the run's summary file (run.sh shows it).
     */
    static synchronized void summary(String scenario, boolean pass, String line, Wire wire) {
        String text = "[interop " + tag() + " rocketmq-client " + clientVersion() + "] "
            + scenario + ": " + (pass ? "PASS " : "FAIL ") + line
            + "; non-SUCCESS answers: " + wire.problems() + wire.notes();
        System.out.println("[interop " + tag() + "] " + scenario + " requests seen: "
            + wire.requests());
        System.out.println(text);
        String file = System.getProperty("interop.summaryFile");
        if (file != null) {
            try {
                Path path = Path.of(file);
                Files.createDirectories(path.getParent());
                Files.writeString(path, text + System.lineSeparator(), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            } catch (IOException e) {
                System.err.println("cannot write summary file " + file + ": " + e);
            }
        }
    }

    static void shutdownQuietly(Object... clients) {
        for (Object c : clients) {
            try {
                if (c instanceof DefaultMQProducer p) {
                    p.shutdown();
                } else if (c instanceof DefaultMQPushConsumer pc) {
                    pc.shutdown();
                } else if (c instanceof DefaultMQPullConsumer pl) {
                    pl.shutdown();
                }
            } catch (RuntimeException e) {
                System.err.println("shutdown of " + c + " failed: " + e);
            }
        }
    }
}
