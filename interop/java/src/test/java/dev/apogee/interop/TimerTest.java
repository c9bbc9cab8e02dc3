package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageAccessor;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Timer messages (RocketMQ 5's arbitrary delivery time): a message with
 * {@code TIMER_DELIVER_MS} (absolute, epoch ms) or {@code TIMER_DELAY_SEC} is answered at once,
 * held on the broker's timer wheel and delivered to its topic at its time, never early; one
 * more than {@code timerMaxDelaySec} (3 days) ahead is refused with MESSAGE_ILLEGAL; one whose
 * time has passed is delivered at once.
 *
 * <p>The 5.x client sets the properties through its own API ({@code Message.setDeliverTimeMs},
 * {@code setDelayTimeSec}, called by reflection since 4.9.8 has neither); on 4.9.8 the test
 * puts the same properties with {@code MessageAccessor.putProperty}, so both lines run every
 * scenario. The client and the broker read the same machine's clock, so "never early" is
 * checked to the millisecond.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TimerTest {
    static final String SCENARIO = "timer";
    static final String WARM_UP = "warmup";
    static final int QUEUES = 4;
    static final String TIMER_DELIVER_MS = "TIMER_DELIVER_MS";
    static final String TIMER_DELAY_SEC = "TIMER_DELAY_SEC";
    static final String TIMER_OUT_MS = "TIMER_OUT_MS";
    static final String TIMER_ENQUEUE_MS = "TIMER_ENQUEUE_MS";
    static final String TIMER_DEQUEUE_MS = "TIMER_DEQUEUE_MS";
    /** The broker's default timerPrecisionMs: a timer is due at a 1 s step. */
    static final long PRECISION_MS = 1_000;
    /** Latest acceptable delivery after the asked time (one precision step, plus slack). */
    static final long LATE_LIMIT_MS = 3_000;
    /** An answer to a timer send must come at once, not when the timer is due. */
    static final long SEND_LIMIT_MS = 1_000;
    static final long MAX_DELAY_MS = 259_200_000; // timerMaxDelaySec 3 days
    static final String REFUSAL = "timer message illegal, the delay time should not be bigger "
        + "than the max delay " + MAX_DELAY_MS + "ms; or if set del msg";

    static final Wire WIRE = new Wire();
    static final String TOPIC = Interop.name("topic", SCENARIO);
    static final String GROUP = Interop.name("cg", SCENARIO);
    /** Every delivery, by key: (consume time, message). */
    static final Map<String, List<Delivery>> RECEIVED = new ConcurrentHashMap<>();
    static final CountDownLatch WARMED_UP = new CountDownLatch(1);

    static DefaultMQProducer producer;
    static List<MessageQueue> queues;
    static DefaultMQPushConsumer consumer;
    static String setup;

    record Delivery(long at, MessageExt msg) {
    }

    /** One message sent: what it asked for, to which queue, and what the send answered. */
    record Sent(String key, long asked, MessageQueue queue, long sendStart, long sendMs,
                SendResult result) {
    }

    @BeforeAll
    static void startConsumer() throws Exception {
        producer = Interop.producer(SCENARIO, WIRE);
        queues = new ArrayList<>(
            new TreeSet<>(Interop.createTopic(producer, TOPIC, QUEUES, WIRE)));
        consumer = Interop.pushConsumer(GROUP, "m1", TOPIC, "*", WIRE);
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            long now = System.currentTimeMillis();
            for (MessageExt m : msgs) {
                if (m.getKeys().startsWith(WARM_UP)) {
                    WARMED_UP.countDown();
                    continue;
                }
                RECEIVED.computeIfAbsent(m.getKeys(), k -> new CopyOnWriteArrayList<>())
                    .add(new Delivery(now, m));
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumer.start();
        boolean assigned = Interop.await(Duration.ofSeconds(30),
            () -> Interop.assigned(consumer, TOPIC).size() == QUEUES);
        // A warm-up message first, so that the timed part starts with a consumer that pulls.
        long t0 = System.nanoTime();
        producer.send(Interop.message(TOPIC, "TagA", WARM_UP));
        boolean warm = WARMED_UP.await(30, TimeUnit.SECONDS);
        long warmMs = (System.nanoTime() - t0) / 1_000_000;
        setup = "queues assigned=" + assigned + "; warm-up "
            + (warm ? "consumed after " + warmMs + " ms" : "NOT consumed within 30 s")
            + "; timer properties set by " + (hasTimerApi() ? "Message.setDeliverTimeMs/"
            + "setDelayTimeSec" : "MessageAccessor.putProperty (no timer API in this client)");
        assertTrue(assigned && warm, setup);
    }

    @AfterAll
    static void shutdown() {
        Interop.shutdownQuietly(consumer, producer);
    }

    /** Scenario 1: five absolute deliver times and one delay in seconds, each on time. */
    @Test
    @Order(1)
    @Timeout(60)
    void timerMessagesArriveAtTheirTime() throws Exception {
        String scenario = "timer-deliver";
        List<Sent> sent = new ArrayList<>();
        long base = System.currentTimeMillis();
        for (int i = 0; i < 5; i++) {
            long asked = base + 3_000 + i * 500L;
            String key = Interop.name("key", scenario) + "-" + i;
            Message m = Interop.message(TOPIC, "TagA", key);
            deliverAt(m, asked);
            sent.add(send(m, key, asked, queues.get(i % QUEUES)));
        }
        String delayKey = Interop.name("key", scenario) + "-sec";
        Message m = Interop.message(TOPIC, "TagA", delayKey);
        long delayStart = System.currentTimeMillis();
        delaySec(m, 2);
        // Asked: 2 s after the send left; the broker counts from its arrival, a little later.
        sent.add(send(m, delayKey, delayStart + 2_000, queues.get(1)));

        long lastAsked = sent.stream().mapToLong(Sent::asked).max().orElseThrow();
        Interop.await(Duration.ofMillis(lastAsked + LATE_LIMIT_MS + 500
                - System.currentTimeMillis()),
            () -> sent.stream().allMatch(s -> RECEIVED.containsKey(s.key())));
        Thread.sleep(500); // let a duplicate show

        List<String> problems = new ArrayList<>();
        long minLate = Long.MAX_VALUE;
        long maxLate = Long.MIN_VALUE;
        long maxSendMs = 0;
        StringBuilder each = new StringBuilder();
        for (Sent s : sent) {
            maxSendMs = Math.max(maxSendMs, s.sendMs());
            String what = s.key().substring(s.key().lastIndexOf('-') + 1);
            if (s.result().getSendStatus() != SendStatus.SEND_OK) {
                problems.add(what + ": send " + s.result().getSendStatus());
            }
            if (s.sendMs() >= SEND_LIMIT_MS) {
                problems.add(what + ": send answered after " + s.sendMs() + " ms");
            }
            List<Delivery> got = RECEIVED.getOrDefault(s.key(), List.of());
            if (got.isEmpty()) {
                problems.add(what + ": not received");
                each.append(' ').append(what).append("=missing");
                continue;
            }
            if (got.size() > 1) {
                problems.add(what + ": received " + got.size() + " times");
            }
            Delivery d = got.get(0);
            long late = d.at() - s.asked();
            minLate = Math.min(minLate, late);
            maxLate = Math.max(maxLate, late);
            each.append(' ').append(what).append('=').append(late);
            if (late < 0) {
                problems.add(what + ": " + -late + " ms early");
            } else if (late > LATE_LIMIT_MS) {
                problems.add(what + ": " + late + " ms late");
            }
            problems.addAll(checkDelivered(what, s, d.msg(), !what.equals("sec")));
        }
        String line = "sent 5 with deliverTimeMs now+3000+i*500 and 1 with delayTimeSec=2, "
            + "each send answered within " + maxSendMs + " ms; received "
            + sent.stream().filter(s -> RECEIVED.containsKey(s.key())).count() + "/"
            + sent.size() + "; latenessMs min=" + (minLate == Long.MAX_VALUE ? "-" : minLate)
            + " max=" + (maxLate == Long.MIN_VALUE ? "-" : maxLate) + " (" + each.toString().trim()
            + ")" + (problems.isEmpty() ? "" : "; problems: " + problems) + "; " + setup;
        boolean pass = problems.isEmpty();
        Interop.summary(scenario, pass, line, WIRE);
        assertTrue(pass, scenario + ": " + line);
    }

    /** Scenario 2: a deliver time 4 days ahead (over timerMaxDelaySec) is refused. */
    @Test
    @Order(2)
    @Timeout(60)
    void aTimeBeyondTheMaxDelayIsRefused() throws Exception {
        String scenario = "timer-too-far";
        String key = Interop.name("key", scenario);
        Message m = Interop.message(TOPIC, "TagA", key);
        deliverAt(m, System.currentTimeMillis() + Duration.ofDays(4).toMillis());
        String outcome;
        boolean pass;
        try {
            SendResult r = producer.send(m);
            outcome = "send NOT refused: " + r.getSendStatus() + " msgId=" + r.getMsgId();
            pass = false;
        } catch (MQBrokerException e) {
            String remark = String.valueOf(e.getErrorMessage());
            outcome = "refused: MQBrokerException responseCode=" + e.getResponseCode()
                + " remark \"" + remark + "\"";
            pass = e.getResponseCode() == 13 && remark.startsWith(REFUSAL);
        }
        String line = "deliverTimeMs now+4d: " + outcome + " (expected code 13 MESSAGE_ILLEGAL, "
            + "remark starting \"" + REFUSAL + "\")";
        Interop.summary(scenario, pass, line, WIRE);
        assertTrue(pass, scenario + ": " + line);
    }

    /** Scenario 3: a deliver time already past is delivered at once. */
    @Test
    @Order(3)
    @Timeout(60)
    void aPastTimeIsDeliveredAtOnce() throws Exception {
        String scenario = "timer-past";
        String key = Interop.name("key", scenario);
        Message m = Interop.message(TOPIC, "TagA", key);
        long asked = System.currentTimeMillis() - 1_000;
        deliverAt(m, asked);
        Sent s = send(m, key, asked, queues.get(0));
        Interop.await(Duration.ofSeconds(5), () -> RECEIVED.containsKey(key));
        List<Delivery> got = RECEIVED.getOrDefault(key, List.of());
        List<String> problems = new ArrayList<>();
        String arrival = "not received within 5 s";
        String props = "";
        if (s.result().getSendStatus() != SendStatus.SEND_OK) {
            problems.add("send " + s.result().getSendStatus());
        }
        if (!s.queue().equals(s.result().getMessageQueue())) {
            problems.add("sent to queue " + s.queue().getQueueId() + ", the answer names "
                + s.result().getMessageQueue());
        }
        if (!got.isEmpty()) {
            Delivery d = got.get(0);
            long after = d.at() - s.sendStart();
            arrival = "received " + after + " ms after the send";
            if (after > SEND_LIMIT_MS) {
                problems.add("received after " + after + " ms (limit " + SEND_LIMIT_MS + ")");
            }
            if (!s.result().getMsgId().equals(d.msg().getMsgId())) {
                problems.add("msgId " + d.msg().getMsgId() + " != sent " + s.result().getMsgId());
            }
            if (!String.valueOf(asked).equals(d.msg().getProperty(TIMER_DELIVER_MS))) {
                problems.add(TIMER_DELIVER_MS + "=" + d.msg().getProperty(TIMER_DELIVER_MS));
            }
            props = "; " + TIMER_OUT_MS + "=" + d.msg().getProperty(TIMER_OUT_MS) + " "
                + TIMER_ENQUEUE_MS + "=" + d.msg().getProperty(TIMER_ENQUEUE_MS);
        } else {
            problems.add(arrival);
        }
        String line = "deliverTimeMs now-1000: send " + s.result().getSendStatus() + " in "
            + s.sendMs() + " ms; " + arrival + props
            + (problems.isEmpty() ? "" : "; problems: " + problems);
        boolean pass = problems.isEmpty();
        Interop.summary(scenario, pass, line, WIRE);
        assertTrue(pass, scenario + ": " + line);
    }

    // ---------------------------------------------------------------- helpers

    /** Sends {@code m} to {@code queue} (chosen here, so the answer's queue can be checked). */
    static Sent send(Message m, String key, long asked, MessageQueue queue) throws Exception {
        long start = System.currentTimeMillis();
        long t0 = System.nanoTime();
        SendResult r = producer.send(m, queue);
        return new Sent(key, asked, queue, start, (System.nanoTime() - t0) / 1_000_000, r);
    }

    /**
     * What a delivered timer message must carry: its send's msgId (UNIQ_KEY); the topic and
     * queue it was sent to, which the send's answer names too (a RocketMQ broker answers the
     * queue asked, not the timer topic's); the slot time (TIMER_OUT_MS: the precision step
     * below the asked time); the deliver time as sent; and when the broker took it
     * (TIMER_ENQUEUE_MS, during the send) and gave it out (TIMER_DEQUEUE_MS, at or after the
     * asked time).
     */
    static List<String> checkDelivered(String what, Sent s, MessageExt m, boolean absolute) {
        List<String> problems = new ArrayList<>();
        if (!s.result().getMsgId().equals(m.getMsgId())) {
            problems.add(what + ": msgId " + m.getMsgId() + " != sent " + s.result().getMsgId());
        }
        if (!TOPIC.equals(m.getTopic()) || m.getQueueId() != s.queue().getQueueId()) {
            problems.add(what + ": delivered to " + m.getTopic() + "/" + m.getQueueId()
                + ", sent to queue " + s.queue().getQueueId());
        }
        if (!s.queue().equals(s.result().getMessageQueue())) {
            problems.add(what + ": sent to queue " + s.queue().getQueueId()
                + ", the answer names " + s.result().getMessageQueue());
        }
        Long out = number(m, TIMER_OUT_MS);
        Long enqueue = number(m, TIMER_ENQUEUE_MS);
        Long dequeue = number(m, TIMER_DEQUEUE_MS);
        if (out == null || enqueue == null || dequeue == null) {
            problems.add(what + ": timer properties missing or not numbers: "
                + m.getProperties());
            return problems;
        }
        // For a delay the broker's asked time is its arrival + delay: at most sendMs later.
        long askedHigh = s.asked() + (absolute ? 0 : s.sendMs());
        if (out > askedHigh || s.asked() - out > PRECISION_MS) {
            problems.add(what + ": " + TIMER_OUT_MS + "=" + out + " is not the step below "
                + s.asked());
        }
        if (absolute && !String.valueOf(s.asked()).equals(m.getProperty(TIMER_DELIVER_MS))) {
            problems.add(what + ": " + TIMER_DELIVER_MS + "=" + m.getProperty(TIMER_DELIVER_MS)
                + ", sent " + s.asked());
        }
        if (!absolute && !"2".equals(m.getProperty(TIMER_DELAY_SEC))) {
            problems.add(what + ": " + TIMER_DELAY_SEC + "=" + m.getProperty(TIMER_DELAY_SEC));
        }
        if (enqueue < s.sendStart() || enqueue > s.sendStart() + s.sendMs() + 1) {
            problems.add(what + ": " + TIMER_ENQUEUE_MS + "=" + enqueue + " not during the send ("
                + s.sendStart() + " + " + s.sendMs() + " ms)");
        }
        if (dequeue < s.asked()) {
            problems.add(what + ": " + TIMER_DEQUEUE_MS + "=" + dequeue + " before the asked "
                + s.asked());
        }
        return problems;
    }

    static Long number(MessageExt m, String name) {
        try {
            return Long.valueOf(m.getProperty(name));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** Whether this client line has RocketMQ 5's timer API on Message. */
    static boolean hasTimerApi() {
        return timerMethod("setDeliverTimeMs") != null;
    }

    static Method timerMethod(String name) {
        try {
            return Message.class.getMethod(name, long.class);
        } catch (NoSuchMethodException e) {
            return null;
        }
    }

    /** {@code m.setDeliverTimeMs(ms)} on 5.x; the same property, put directly, on 4.9.8. */
    static void deliverAt(Message m, long ms) throws Exception {
        Method api = timerMethod("setDeliverTimeMs");
        if (api != null) {
            api.invoke(m, ms);
        } else {
            MessageAccessor.putProperty(m, TIMER_DELIVER_MS, String.valueOf(ms));
        }
        if (!String.valueOf(ms).equals(m.getProperty(TIMER_DELIVER_MS))) {
            throw new AssertionError("the client did not set " + TIMER_DELIVER_MS + ": "
                + m.getProperties());
        }
    }

    /** {@code m.setDelayTimeSec(sec)} on 5.x; the same property, put directly, on 4.9.8. */
    static void delaySec(Message m, long sec) throws Exception {
        Method api = timerMethod("setDelayTimeSec");
        if (api != null) {
            api.invoke(m, sec);
        } else {
            MessageAccessor.putProperty(m, TIMER_DELAY_SEC, String.valueOf(sec));
        }
        if (!String.valueOf(sec).equals(m.getProperty(TIMER_DELAY_SEC))) {
            throw new AssertionError("the client did not set " + TIMER_DELAY_SEC + ": "
                + m.getProperties());
        }
    }
}
