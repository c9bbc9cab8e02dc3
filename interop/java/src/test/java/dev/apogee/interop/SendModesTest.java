package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Scenario 1: every send mode stores every message. Each mode sends to its own 4-queue
 * topic; the test then reads the whole topic back with a pull consumer (PULL_MESSAGE from
 * offset 0 of each queue) and checks unique keys and the sum of max offsets (GET_MAX_OFFSET).
 */
class SendModesTest {
    static final int QUEUES = 4;
    static final int SYNC = 10_000;
    static final int ASYNC = 10_000;
    static final int ASYNC_IN_FLIGHT = 1_000;
    static final int ONEWAY = 10_000;
    static final int BATCHES = 100;
    static final int BATCH_SIZE = 100;

    /** Send-side outcome of one mode. */
    static final class Sent {
        final AtomicLong ok = new AtomicLong();
        final AtomicLong notOk = new AtomicLong();
        final AtomicLong failed = new AtomicLong();
        final List<String> errors = Collections.synchronizedList(new ArrayList<>());

        void result(SendResult r) {
            if (r.getSendStatus() == SendStatus.SEND_OK) {
                ok.incrementAndGet();
            } else {
                notOk.incrementAndGet();
                note("status " + r.getSendStatus() + ": " + r);
            }
        }

        void failure(Throwable e) {
            failed.incrementAndGet();
            note(e.toString());
        }

        private void note(String text) {
            if (errors.size() < 5) {
                errors.add(text);
            }
        }

        String describe() {
            return "sendOk=" + ok + " sendNotOk=" + notOk + " sendFailed=" + failed
                + (errors.isEmpty() ? "" : " firstErrors=" + errors);
        }
    }

    @Test
    @Timeout(300)
    void syncSend() throws Exception {
        String scenario = "sync";
        Wire wire = new Wire();
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        try {
            String topic = Interop.name("topic", scenario);
            Interop.createTopic(producer, topic, QUEUES, wire);
            List<String> keys = Interop.keys(scenario, SYNC);
            Sent sent = new Sent();
            long t0 = System.nanoTime();
            for (String key : keys) {
                try {
                    sent.result(producer.send(Interop.message(topic, "TagA", key)));
                } catch (Exception e) {
                    sent.failure(e);
                }
            }
            verify(scenario, topic, keys, sent, t0, wire);
        } finally {
            Interop.shutdownQuietly(producer);
        }
    }

    @Test
    @Timeout(300)
    void asyncSend() throws Exception {
        String scenario = "async";
        Wire wire = new Wire();
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        try {
            String topic = Interop.name("topic", scenario);
            Interop.createTopic(producer, topic, QUEUES, wire);
            List<String> keys = Interop.keys(scenario, ASYNC);
            Sent sent = new Sent();
            CountDownLatch done = new CountDownLatch(keys.size());
            Semaphore inFlight = new Semaphore(ASYNC_IN_FLIGHT);
            long t0 = System.nanoTime();
            for (String key : keys) {
                inFlight.acquire();
                try {
                    producer.send(Interop.message(topic, "TagA", key), new SendCallback() {
                        @Override
                        public void onSuccess(SendResult r) {
                            sent.result(r);
                            inFlight.release();
                            done.countDown();
                        }

                        @Override
                        public void onException(Throwable e) {
                            sent.failure(e);
                            inFlight.release();
                            done.countDown();
                        }
                    });
                } catch (Exception e) {
                    sent.failure(e);
                    inFlight.release();
                    done.countDown();
                }
            }
            boolean all = done.await(120, TimeUnit.SECONDS);
            assertTrue(all, "async: only " + (keys.size() - done.getCount())
                + " callbacks within 120 s; " + sent.describe());
            verify(scenario, topic, keys, sent, t0, wire);
        } finally {
            Interop.shutdownQuietly(producer);
        }
    }

    @Test
    @Timeout(300)
    void onewaySend() throws Exception {
        String scenario = "oneway";
        Wire wire = new Wire();
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        try {
            String topic = Interop.name("topic", scenario);
            Interop.createTopic(producer, topic, QUEUES, wire);
            List<String> keys = Interop.keys(scenario, ONEWAY);
            Sent sent = new Sent();
            long t0 = System.nanoTime();
            for (String key : keys) {
                try {
                    producer.sendOneway(Interop.message(topic, "TagA", key));
                    sent.ok.incrementAndGet();
                } catch (Exception e) {
                    sent.failure(e);
                }
            }
            // Oneway has no reply: verify waits (bounded) until the max offsets add up.
            verify(scenario, topic, keys, sent, t0, wire);
        } finally {
            Interop.shutdownQuietly(producer);
        }
    }

    @Test
    @Timeout(300)
    void batchSend() throws Exception {
        String scenario = "batch";
        Wire wire = new Wire();
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        try {
            String topic = Interop.name("topic", scenario);
            Interop.createTopic(producer, topic, QUEUES, wire);
            List<String> keys = Interop.keys(scenario, BATCHES * BATCH_SIZE);
            Sent batches = new Sent();
            long t0 = System.nanoTime();
            for (int b = 0; b < BATCHES; b++) {
                List<Message> batch = new ArrayList<>(BATCH_SIZE);
                for (String key : keys.subList(b * BATCH_SIZE, (b + 1) * BATCH_SIZE)) {
                    batch.add(Interop.message(topic, "TagA", key));
                }
                try {
                    batches.result(producer.send(batch));
                } catch (Exception e) {
                    batches.failure(e);
                }
            }
            verify(scenario + " (" + BATCHES + " batches of " + BATCH_SIZE + ")", topic, keys,
                batches, t0, wire);
        } finally {
            Interop.shutdownQuietly(producer);
        }
    }

    /** Longest an acknowledged message may take to become readable (RocketMQ: milliseconds). */
    static final long VISIBLE_WITHIN_MS = 5_000;

    /**
     * Waits until the topic's max offsets add up to the count (bounded), then reads it back and
     * asserts that every key is stored exactly once. The wait is reported: messages that show
     * up late (acknowledged but not yet dispatched to their consume queue) are told apart from
     * messages that never show up within 30 s.
     */
    private static void verify(String scenario, String topic, List<String> keys, Sent sent,
                               long t0, Wire wire) throws Exception {
        long sendMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        DefaultMQPullConsumer reader = Interop.pullConsumer(scenario.split(" ")[0], wire);
        try {
            long sentAt = System.nanoTime();
            long atOnce = Interop.maxOffsetSum(reader, topic);
            long[] last = {atOnce};
            boolean visible = Interop.await(Duration.ofSeconds(30), () -> {
                try {
                    last[0] = Interop.maxOffsetSum(reader, topic);
                } catch (Exception e) {
                    return false;
                }
                return last[0] >= keys.size();
            });
            long visibleMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sentAt);
            Interop.ReadBack rb = Interop.readAll(reader, topic);
            String line = "sent=" + keys.size() + " in " + sendMs + " ms; " + sent.describe()
                + "; maxOffsetSum right after the last ack=" + atOnce
                + (visible ? ", reached " + keys.size() + " after " + visibleMs + " ms"
                    : ", still " + last[0] + " after 30 s")
                + "; stored maxOffsetSum=" + rb.maxOffsetSum() + " per queue " + rb.maxOffsets
                + "; readBack " + rb.keys.describe(keys)
                + (rb.errors.isEmpty() ? "" : "; pullErrors=" + rb.errors);
            boolean pass = sent.failed.get() == 0 && sent.notOk.get() == 0
                && visible && visibleMs <= VISIBLE_WITHIN_MS
                && rb.errors.isEmpty()
                && rb.keys.unique() == keys.size() && rb.keys.duplicates() == 0
                && rb.keys.missing(keys).isEmpty() && rb.keys.strays(keys).isEmpty()
                && rb.maxOffsetSum() == keys.size();
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            Interop.shutdownQuietly(reader);
        }
    }
}
