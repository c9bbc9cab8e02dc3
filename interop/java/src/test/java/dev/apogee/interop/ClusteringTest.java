package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Scenario 2: a clustering push-consumer group of two members, both started (and their
 * rebalance settled) before the sends; every message must reach exactly one member once.
 */
class ClusteringTest {
    static final int QUEUES = 4;
    static final int MESSAGES = 2_000;

    @Test
    @Timeout(240)
    void twoMemberGroupReceivesEachMessageOnce() throws Exception {
        String scenario = "clustering";
        Wire wire = new Wire();
        String topic = Interop.name("topic", scenario);
        String group = Interop.name("cg", scenario);
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        List<DefaultMQPushConsumer> members = new ArrayList<>();
        Tally all = new Tally();
        Tally[] per = {new Tally(), new Tally()};
        try {
            Interop.createTopic(producer, topic, QUEUES, wire);
            for (int i = 0; i < 2; i++) {
                Tally mine = per[i];
                DefaultMQPushConsumer c =
                    Interop.pushConsumer(group, "m" + (i + 1), topic, "*", wire);
                c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                    for (MessageExt m : msgs) {
                        all.record(m.getKeys());
                        mine.record(m.getKeys());
                    }
                    return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
                });
                c.start();
                members.add(c);
            }
            // The group is settled when the two members hold disjoint, non-empty queue sets
            // that cover the topic (NOTIFY_CONSUMER_IDS_CHANGED + GET_CONSUMER_LIST_BY_GROUP).
            long t0 = System.nanoTime();
            boolean settled = Interop.await(Duration.ofSeconds(60), () -> {
                Set<Integer> a = Interop.assigned(members.get(0), topic);
                Set<Integer> b = Interop.assigned(members.get(1), topic);
                Set<Integer> union = new TreeSet<>(a);
                union.addAll(b);
                return !a.isEmpty() && !b.isEmpty() && a.size() + b.size() == QUEUES
                    && union.size() == QUEUES;
            });
            String assignment = "assignment m1=" + Interop.assigned(members.get(0), topic)
                + " m2=" + Interop.assigned(members.get(1), topic)
                + (settled ? " settled in " + (System.nanoTime() - t0) / 1_000_000 + " ms"
                    : " NOT settled after 60 s");

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
            Interop.await(Duration.ofSeconds(60), () -> all.unique() >= keys.size());
            Thread.sleep(3_000); // let late duplicates arrive before counting
            String line = assignment + "; sent=" + keys.size() + " sendFailures=" + sendFailures
                + firstFailure + "; received " + all.describe(keys)
                + "; m1=" + per[0].deliveries() + " m2=" + per[1].deliveries()
                + " receivedByBoth=" + overlap(per[0], per[1]);
            boolean pass = settled && sendFailures == 0 && all.missing(keys).isEmpty()
                && all.duplicates() == 0 && per[0].unique() > 0 && per[1].unique() > 0;
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            Interop.shutdownQuietly(members.toArray());
            Interop.shutdownQuietly(producer);
        }
    }

    static int overlap(Tally a, Tally b) {
        Set<String> both = a.keySet();
        both.retainAll(b.keySet());
        return both.size();
    }
}
