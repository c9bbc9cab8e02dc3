package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.MessageQueueSelector;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Extra scenarios (beyond the five asked for) that any unchanged application hits sooner or
 * later: a listener that fails (the client sends the message back, CONSUMER_SEND_MSG_BACK,
 * and gets it again from %RETRY%group after the level-3 delay of 10 s), and an orderly
 * listener (the client locks its queues, LOCK_BATCH_MQ, before it pulls them); and a delayed
 * message (delay level 2 = 5 s, which the retry path relies on too). Excluded with
 * {@code -Dinterop.excludedGroups=extra}.
 */
@Tag("extra")
class ExtraTest {
    static final int QUEUES = 4;
    static final String WARM_UP = "warmup";

    /** A warm-up's verdict text and how long it took. */
    record WarmUp(String text, long ms) {
        @Override
        public String toString() {
            return text;
        }
    }

    /**
     * A new push consumer must have its warm-up message within this. A Java client can skip
     * its post-rebalance heartbeat (its heartbeat lock is taken with tryLock), and its pulls
     * then carry a subscription version the broker has not seen: Apache RocketMQ's broker
     * answers SUBSCRIPTION_NOT_LATEST until the next heartbeat, up to 30 s later
     * (apache/rocketmq#3434, #2738, #8970). Apogee asks the client for its subscriptions
     * (GET_CONSUMER_RUNNING_INFO) instead, so even a refused first pull is served within one
     * 3 s retry.
     */
    static final long WARM_UP_LIMIT_MS = 15_000;

    /**
     * Sends one plain message and waits (at most 60 s) until the consumer has it, so the
     * timed part of a test starts with a consumer that is really pulling.
     */
    static WarmUp warmUp(DefaultMQProducer producer, String topic, CountDownLatch done)
        throws Exception {
        long t0 = System.nanoTime();
        producer.send(Interop.message(topic, "TagA", WARM_UP));
        boolean ok = done.await(60, TimeUnit.SECONDS);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String text = "warm-up message " + (ok ? "consumed after " : "NOT consumed within ")
            + ms + " ms (limit " + WARM_UP_LIMIT_MS + ")";
        return new WarmUp(text, ok ? ms : Long.MAX_VALUE);
    }

    @Test
    @Timeout(240)
    void failedMessageIsRedeliveredThroughRetryTopic() throws Exception {
        String scenario = "retry";
        Wire wire = new Wire();
        String topic = Interop.name("topic", scenario);
        String group = Interop.name("cg", scenario);
        int messages = 100;
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        DefaultMQPushConsumer consumer = null;
        Map<String, Long> firstSeen = new ConcurrentHashMap<>();
        Map<String, Long> retryDelay = new ConcurrentHashMap<>();
        Map<Integer, AtomicLong> reconsumeTimes = new ConcurrentHashMap<>();
        AtomicLong withRetryTopicProperty = new AtomicLong();
        AtomicLong laterDeliveries = new AtomicLong();
        CountDownLatch warmedUp = new CountDownLatch(1);
        try {
            Interop.createTopic(producer, topic, QUEUES, wire);
            consumer = Interop.pushConsumer(group, "m1", topic, "*", wire);
            consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                long now = System.currentTimeMillis();
                boolean fail = false;
                for (MessageExt m : msgs) {
                    if (m.getKeys().startsWith(WARM_UP)) {
                        warmedUp.countDown();
                        continue;
                    }
                    Long first = firstSeen.putIfAbsent(m.getKeys(), now);
                    if (first == null) {
                        fail = true; // first delivery: ask for a retry
                    } else {
                        laterDeliveries.incrementAndGet();
                        retryDelay.putIfAbsent(m.getKeys(), now - first);
                        reconsumeTimes.computeIfAbsent(m.getReconsumeTimes(),
                            k -> new AtomicLong()).incrementAndGet();
                        if (topic.equals(m.getProperty("RETRY_TOPIC"))) {
                            withRetryTopicProperty.incrementAndGet();
                        }
                    }
                }
                return fail ? ConsumeConcurrentlyStatus.RECONSUME_LATER
                    : ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            consumer.start();
            DefaultMQPushConsumer c = consumer;
            Interop.await(Duration.ofSeconds(60),
                () -> Interop.assigned(c, topic).size() == QUEUES);
            WarmUp warm = warmUp(producer, topic, warmedUp);
            List<String> keys = Interop.keys(scenario, messages);
            for (String key : keys) {
                producer.send(Interop.message(topic, "TagA", key));
            }
            Interop.await(Duration.ofSeconds(90), () -> retryDelay.size() >= messages);
            Thread.sleep(2_000);
            long minDelay = retryDelay.values().stream().mapToLong(Long::longValue)
                .min().orElse(-1);
            long maxDelay = retryDelay.values().stream().mapToLong(Long::longValue)
                .max().orElse(-1);
            Map<Integer, Long> times = new TreeMap<>();
            reconsumeTimes.forEach((k, v) -> times.put(k, v.get()));
            String line = "sent=" + messages + " firstDeliveries=" + firstSeen.size()
                + " (each answered RECONSUME_LATER); redelivered=" + retryDelay.size()
                + " laterDeliveries=" + laterDeliveries + " reconsumeTimes=" + times
                + " withRETRY_TOPIC=" + withRetryTopicProperty
                + " retryDelayMs min=" + minDelay + " max=" + maxDelay
                + " (RocketMQ: level 3 = 10 s); " + warm;
            boolean pass = firstSeen.size() == messages && retryDelay.size() == messages
                && laterDeliveries.get() == messages
                && times.equals(Map.of(1, (long) messages))
                && withRetryTopicProperty.get() == messages && minDelay >= 9_000
                && warm.ms() <= WARM_UP_LIMIT_MS;
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line + "; non-SUCCESS answers: " + wire.problems());
        } finally {
            Interop.shutdownQuietly(consumer, producer);
        }
    }

    @Test
    @Timeout(240)
    void orderlyListenerSeesEachOrderInSequence() throws Exception {
        String scenario = "orderly";
        Wire wire = new Wire();
        String topic = Interop.name("topic", scenario);
        String group = Interop.name("cg", scenario);
        int orders = 8;
        int steps = 50;
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        DefaultMQPushConsumer consumer = null;
        Map<Integer, List<Integer>> seen = new ConcurrentHashMap<>();
        try {
            Interop.createTopic(producer, topic, QUEUES, wire);
            consumer = Interop.pushConsumer(group, "m1", topic, "*", wire);
            consumer.registerMessageListener((MessageListenerOrderly) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    String[] parts = m.getKeys().split("-"); // orderly-<order>-<step>
                    int order = Integer.parseInt(parts[1]);
                    List<Integer> list = seen.computeIfAbsent(order, k -> new ArrayList<>());
                    synchronized (list) {
                        list.add(Integer.parseInt(parts[2]));
                    }
                }
                return ConsumeOrderlyStatus.SUCCESS;
            });
            consumer.start();
            DefaultMQPushConsumer c = consumer;
            boolean settled = Interop.await(Duration.ofSeconds(30),
                () -> Interop.assigned(c, topic).size() == QUEUES);
            MessageQueueSelector byOrder = (mqs, msg, arg) -> mqs.get((Integer) arg % mqs.size());
            long sendFailures = 0;
            String firstFailure = "";
            for (int step = 0; step < steps; step++) {
                for (int order = 0; order < orders; order++) {
                    try {
                        producer.send(Interop.message(topic, "TagA",
                            scenario + "-" + order + "-" + step), byOrder, order);
                    } catch (Exception e) {
                        if (sendFailures++ == 0) {
                            firstFailure = " first=" + e;
                        }
                    }
                }
            }
            Interop.await(Duration.ofSeconds(60), () -> seen.values().stream()
                .mapToInt(l -> l.size()).sum() >= orders * steps);
            Thread.sleep(2_000);
            int total = seen.values().stream().mapToInt(List::size).sum();
            List<Integer> expected = new ArrayList<>();
            for (int i = 0; i < steps; i++) {
                expected.add(i);
            }
            List<Integer> outOfOrder = seen.entrySet().stream()
                .filter(e -> !e.getValue().equals(expected)).map(Map.Entry::getKey)
                .sorted().collect(Collectors.toList());
            String line = (settled ? "" : "consumer did NOT hold (lock) all queues after 30 s "
                + "(held " + Interop.assigned(c, topic) + "); ")
                + "sent=" + orders * steps + " (" + orders + " orders x " + steps + " steps)"
                + " sendFailures=" + sendFailures + firstFailure
                + "; received=" + total + " ordersSeen=" + seen.size()
                + " ordersNotExactlyInSequence=" + outOfOrder;
            boolean pass = sendFailures == 0 && total == orders * steps
                && seen.size() == orders && outOfOrder.isEmpty();
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line + "; non-SUCCESS answers: " + wire.problems());
        } finally {
            Interop.shutdownQuietly(consumer, producer);
        }
    }

    @Test
    @Timeout(240)
    void delayedMessageArrivesAfterItsDelayLevel() throws Exception {
        String scenario = "delay";
        Wire wire = new Wire();
        String topic = Interop.name("topic", scenario);
        String group = Interop.name("cg", scenario);
        int messages = 20;
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        DefaultMQPushConsumer consumer = null;
        Map<String, Long> latency = new ConcurrentHashMap<>();
        CountDownLatch warmedUp = new CountDownLatch(1);
        try {
            Interop.createTopic(producer, topic, QUEUES, wire);
            consumer = Interop.pushConsumer(group, "m1", topic, "*", wire);
            consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                long now = System.currentTimeMillis();
                for (MessageExt m : msgs) {
                    if (m.getKeys().startsWith(WARM_UP)) {
                        warmedUp.countDown();
                        continue;
                    }
                    latency.putIfAbsent(m.getKeys(), now - m.getBornTimestamp());
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            consumer.start();
            DefaultMQPushConsumer c = consumer;
            Interop.await(Duration.ofSeconds(60),
                () -> Interop.assigned(c, topic).size() == QUEUES);
            WarmUp warm = warmUp(producer, topic, warmedUp);
            List<String> keys = Interop.keys(scenario, messages);
            for (String key : keys) {
                Message m = Interop.message(topic, "TagA", key);
                m.setDelayTimeLevel(2); // RocketMQ's default levels: 1s 5s 10s 30s 1m …
                producer.send(m);
            }
            Interop.await(Duration.ofSeconds(60), () -> latency.size() >= messages);
            long min = latency.values().stream().mapToLong(Long::longValue).min().orElse(-1);
            long max = latency.values().stream().mapToLong(Long::longValue).max().orElse(-1);
            String line = "sent=" + messages + " with delayTimeLevel=2 (5 s); received="
                + latency.size() + " latencyMs min=" + min + " max=" + max + "; " + warm;
            boolean pass = latency.size() == messages && min >= 4_500 && max <= 15_000
                && warm.ms() <= WARM_UP_LIMIT_MS;
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line + "; non-SUCCESS answers: " + wire.problems());
        } finally {
            Interop.shutdownQuietly(consumer, producer);
        }
    }
}
