package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.TimeUnit;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Scenario 5: a consumer consumes about half of a topic and shuts down (which commits its
 * offsets with UPDATE_CONSUMER_OFFSET); a new consumer in the same group must continue from
 * the committed offsets (QUERY_CONSUMER_OFFSET): no message lost, and not a restart from
 * the beginning. A few duplicates (messages in flight at shutdown) are acceptable and
 * reported.
 */
class ResumeTest {
    static final int QUEUES = 4;
    static final int MESSAGES = 2_000;

    @Test
    @Timeout(240)
    void newConsumerContinuesFromCommittedOffsets() throws Exception {
        String scenario = "resume";
        Wire wire = new Wire();
        String topic = Interop.name("topic", scenario);
        String group = Interop.name("cg", scenario);
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        DefaultMQPushConsumer first = null;
        DefaultMQPushConsumer second = null;
        Tally c1 = new Tally();
        Tally c2 = new Tally();
        Map<Integer, Long> c1MaxOffset = new ConcurrentSkipListMap<>();
        Map<Integer, Long> c2MinOffset = new ConcurrentSkipListMap<>();
        try {
            Interop.createTopic(producer, topic, QUEUES, wire);
            List<String> keys = Interop.keys(scenario, MESSAGES);
            long sendFailures = 0;
            String firstFailure = "";
            for (String key : keys) {
                try {
                    producer.send(Interop.message(topic, "TagA", key));
                } catch (Exception e) {
                    if (sendFailures++ == 0) {
                        firstFailure = " first=" + e;
                    }
                }
            }

            // First consumer: one thread, ~2 ms per message, so "half" is reached mid-topic.
            first = Interop.pushConsumer(group, "first", topic, "*", wire);
            first.setConsumeThreadMin(1);
            first.setConsumeThreadMax(1);
            first.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    c1.record(m.getKeys());
                    c1MaxOffset.merge(m.getQueueId(), m.getQueueOffset(), Math::max);
                }
                sleep(2);
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            first.start();
            boolean half = Interop.await(Duration.ofSeconds(60), () -> c1.unique() >= MESSAGES / 2);
            first.shutdown();
            first = null;
            long c1Count = c1.unique();

            second = Interop.pushConsumer(group, "second", topic, "*", wire);
            second.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    c2.record(m.getKeys());
                    c2MinOffset.merge(m.getQueueId(), m.getQueueOffset(), Math::min);
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            second.start();
            Interop.await(Duration.ofSeconds(60),
                () -> c1.unique() + c2.unique() - overlap(c1, c2) >= MESSAGES);
            Thread.sleep(2_000);

            Tally union = new Tally();
            c1.keySet().forEach(union::record);
            c2.keySet().forEach(union::record);
            int both = overlap(c1, c2);
            List<String> missing = union.missing(keys);
            String line = "sent=" + keys.size() + " sendFailures=" + sendFailures + firstFailure
                + "; first consumer " + c1Count + " (reached half: " + half + ")"
                + ", second consumer " + c2.unique() + " (deliveries " + c2.deliveries() + ")"
                + "; redelivered to second=" + both + " missing=" + missing.size()
                + Tally.sample(missing)
                + "; per queue: first's last offset " + c1MaxOffset
                + ", second's first offset " + c2MinOffset;
            // Pass: nothing lost, the first consumer really stopped mid-way, and the second
            // did not start over (redelivering at least half of what the first consumed
            // means the committed offsets were lost or ignored).
            boolean pass = sendFailures == 0 && half && missing.isEmpty()
                && c1Count < MESSAGES && both < c1Count / 2;
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            Interop.shutdownQuietly(first, second, producer);
        }
    }

    static int overlap(Tally a, Tally b) {
        Set<String> both = a.keySet();
        both.retainAll(b.keySet());
        return both.size();
    }

    static void sleep(long ms) {
        try {
            TimeUnit.MILLISECONDS.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
