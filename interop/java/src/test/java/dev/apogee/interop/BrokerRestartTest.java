package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListMap;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Broker restart: a push consumer takes about half of 2 000 messages and shuts down cleanly
 * (committing its offsets); then the whole {@code apogee standalone} process is stopped with
 * SIGINT and started again on the same data directory and ports (run.sh's
 * {@code restart-broker.sh}); a new consumer of the same group must get the rest — every key
 * at least once across before and after, duplicates reported — and not start over (the
 * committed offsets survived). The producer is kept across the restart (its connection must
 * come back) and sends 100 more messages afterwards, which must arrive too.
 *
 * <p>A fresh consumer after the restart rather than one kept running through it: both client
 * lines' push consumers do reconnect, but how long they back off after the broker vanished
 * differs between versions; a new member makes the scenario about the broker's persisted
 * state (commit log, consume queues, topics, consumer offsets), not client timing.
 */
class BrokerRestartTest {
    static final int QUEUES = 4;
    static final int MESSAGES = 2_000;
    static final int AFTER = 100;

    @Test
    @Timeout(300)
    void consumerGroupContinuesAfterBrokerRestart() throws Exception {
        String scenario = "restart";
        if (Interop.restartCmd() == null) {
            throw new IllegalStateException("BrokerRestartTest needs a broker restart command:"
                + " set -Dapogee.restartCmd=PATH or APOGEE_RESTART_CMD (run.sh sets both)");
        }
        long t0 = System.nanoTime();
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

            // Before: one thread, ~2 ms per batch, so "half" is reached mid-topic; a clean
            // shutdown commits the offsets (UPDATE_CONSUMER_OFFSET) before the restart.
            first = Interop.pushConsumer(group, "before", topic, "*", wire);
            first.setConsumeThreadMin(1);
            first.setConsumeThreadMax(1);
            first.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    c1.record(m.getKeys());
                    c1MaxOffset.merge(m.getQueueId(), m.getQueueOffset(), Math::max);
                }
                ResumeTest.sleep(2);
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            first.start();
            boolean half = Interop.await(Duration.ofSeconds(60), () -> c1.unique() >= MESSAGES / 2);
            first.shutdown();
            first = null;
            long c1Count = c1.unique();
            long c1Deliveries = c1.deliveries();
            Thread.sleep(500); // the shutdown's offset commit is oneway: let it land

            // The broker restart: SIGINT, wait, start again on the same data dir and ports.
            long r0 = System.nanoTime();
            String restartOutput = Interop.restartBroker();
            long restartMs = (System.nanoTime() - r0) / 1_000_000;
            wire.note("broker restarted in " + restartMs + " ms ("
                + restartOutput.replace('\n', ' ') + ")");

            // The topic must survive the restart and be routed by the name server again.
            long q0 = System.nanoTime();
            List<MessageQueue> routed = List.of();
            String routeError = "";
            while (System.nanoTime() - q0 < Duration.ofSeconds(30).toNanos()) {
                try {
                    routed = producer.fetchPublishMessageQueues(topic);
                    if (routed.size() == QUEUES) {
                        break;
                    }
                } catch (MQClientException e) {
                    routeError = " last=" + e.getMessage();
                }
                Thread.sleep(50);
            }
            boolean routedAgain = routed.size() == QUEUES;
            String route = "topic routed after restart: " + routedAgain + " ("
                + routed.size() + " queues, " + (System.nanoTime() - q0) / 1_000_000 + " ms"
                + (routedAgain ? "" : routeError) + ")";

            // After: a new member of the same group, then more sends on the old producer.
            second = Interop.pushConsumer(group, "after", topic, "*", wire);
            second.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    c2.record(m.getKeys());
                    if (m.getKeys() != null && m.getKeys().startsWith(scenario + "-")) {
                        c2MinOffset.merge(m.getQueueId(), m.getQueueOffset(), Math::min);
                    }
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            second.start();

            List<String> afterKeys = Interop.keys(scenario + "post", AFTER);
            int afterSent = 0;
            int afterRetries = 0;
            String afterFailure = "";
            for (String key : afterKeys) {
                // The producer's old connection died with the broker; a send may fail while
                // it reconnects, so each message gets up to 20 tries 250 ms apart.
                for (int attempt = 0; attempt < 20; attempt++) {
                    try {
                        SendResult r = producer.send(Interop.message(topic, "TagA", key));
                        if (r.getSendStatus() == SendStatus.SEND_OK) {
                            afterSent++;
                            break;
                        }
                        throw new IllegalStateException("send status " + r.getSendStatus());
                    } catch (Exception e) {
                        if (afterRetries++ == 0) {
                            afterFailure = " first=" + e;
                        }
                        Thread.sleep(250);
                    }
                }
            }

            List<String> all = new ArrayList<>(keys);
            all.addAll(afterKeys);
            Interop.await(Duration.ofSeconds(90), () -> union(c1, c2).missing(all).isEmpty());
            Thread.sleep(2_000); // let late duplicates arrive before counting

            Tally union = union(c1, c2);
            List<String> missingBefore = union.missing(keys);
            List<String> missingAfter = union.missing(afterKeys);
            int redelivered = overlap(c1, c2);
            long duplicates = c1Deliveries + c2.deliveries() - union.unique();
            long c2Old = c2.keySet().stream().filter(k -> !k.startsWith(scenario + "post-")).count();
            long c2New = c2.unique() - c2Old;
            long elapsedMs = (System.nanoTime() - t0) / 1_000_000;
            String line = "sent=" + keys.size() + " sendFailures=" + sendFailures + firstFailure
                + "; before restart received " + c1Count + " (deliveries " + c1Deliveries
                + ", reached half: " + half + ")"
                + "; broker restart " + restartMs + " ms; " + route
                + "; after restart: sent " + afterSent + "/" + AFTER + " more (failed tries "
                + afterRetries + afterFailure + "), received " + c2.unique() + " ("
                + c2Old + " of the first " + MESSAGES + ", " + c2New + " of the " + AFTER
                + " new; deliveries " + c2.deliveries() + ")"
                + "; redelivered across restart=" + redelivered + " duplicates=" + duplicates
                + " missing=" + (missingBefore.size() + missingAfter.size())
                + Tally.sample(missingBefore) + Tally.sample(missingAfter)
                + "; per queue: last offset before " + c1MaxOffset + ", first offset after "
                + c2MinOffset + "; test took " + elapsedMs + " ms";
            // Pass: nothing lost (old or new), the first consumer really stopped mid-way,
            // and the group did not start over after the restart (redelivering at least half
            // of what was consumed before means the committed offsets were lost).
            boolean pass = sendFailures == 0 && half && c1Count < MESSAGES && routedAgain
                && afterSent == AFTER && missingBefore.isEmpty() && missingAfter.isEmpty()
                && redelivered < c1Count / 2;
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            Interop.shutdownQuietly(first, second, producer);
        }
    }

    static Tally union(Tally a, Tally b) {
        Tally u = new Tally();
        a.keySet().forEach(u::record);
        b.keySet().forEach(u::record);
        return u;
    }

    static int overlap(Tally a, Tally b) {
        Set<String> both = a.keySet();
        both.retainAll(b.keySet());
        return both.size();
    }
}
