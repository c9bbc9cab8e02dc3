package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Scenario 3: a push consumer subscribed with {@code TagA || TagB} receives every TagA and
 * TagB message and no TagC one, out of an interleaved mix of the three.
 *
 * <p>Note: the Java client also re-checks tags on its side after each pull, so this proves
 * the end-to-end result and that the broker accepts the tag subscription; it cannot by
 * itself prove the broker filtered (a broker that returned TagC would still pass).
 */
class TagFilterTest {
    static final int QUEUES = 4;
    static final int PER_TAG = 500;

    @Test
    @Timeout(240)
    void tagExpressionSelectsOnlyThoseTags() throws Exception {
        String scenario = "tags";
        Wire wire = new Wire();
        String topic = Interop.name("topic", scenario);
        String group = Interop.name("cg", scenario);
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        DefaultMQPushConsumer consumer = null;
        Tally received = new Tally();
        AtomicLong wrongTag = new AtomicLong();
        List<String> wrongSample = new ArrayList<>();
        try {
            Interop.createTopic(producer, topic, QUEUES, wire);
            consumer = Interop.pushConsumer(group, "m1", topic, "TagA || TagB", wire);
            consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    received.record(m.getKeys());
                    if (!"TagA".equals(m.getTags()) && !"TagB".equals(m.getTags())) {
                        wrongTag.incrementAndGet();
                        synchronized (wrongSample) {
                            if (wrongSample.size() < 5) {
                                wrongSample.add(m.getKeys() + "/" + m.getTags());
                            }
                        }
                    }
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            consumer.start();
            DefaultMQPushConsumer c = consumer;
            boolean settled = Interop.await(Duration.ofSeconds(60),
                () -> Interop.assigned(c, topic).size() == QUEUES);

            List<String> expected = new ArrayList<>();
            List<String> tagC = new ArrayList<>();
            String[] tags = {"TagA", "TagB", "TagC"};
            long sendFailures = 0;
            String firstFailure = "";
            for (int i = 0; i < 3 * PER_TAG; i++) {
                String tag = tags[i % 3];
                String key = scenario + "-" + tag + "-" + i;
                (tag.equals("TagC") ? tagC : expected).add(key);
                try {
                    producer.send(Interop.message(topic, tag, key));
                } catch (Exception e) {
                    if (sendFailures++ == 0) {
                        firstFailure = " first=" + e;
                    }
                }
            }
            Interop.await(Duration.ofSeconds(60), () -> received.unique() >= expected.size());
            Thread.sleep(3_000); // give any TagC delivery time to show up
            long tagCReceived = tagC.stream().filter(received::contains).count();
            String line = (settled ? "" : "consumer did NOT hold all queues after 60 s; ")
                + "sent TagA+TagB=" + expected.size() + " TagC=" + tagC.size()
                + " sendFailures=" + sendFailures + firstFailure
                + "; received " + received.describe(expected)
                + "; TagC received=" + tagCReceived + " wrongTagDeliveries=" + wrongTag
                + (wrongSample.isEmpty() ? "" : " " + wrongSample);
            boolean pass = sendFailures == 0 && received.missing(expected).isEmpty()
                && received.duplicates() == 0 && tagCReceived == 0 && wrongTag.get() == 0;
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            Interop.shutdownQuietly(consumer, producer);
        }
    }

    /**
     * Scenario 3b: the broker itself filters. A raw PULL_MESSAGE with subscription
     * {@code TagA || TagB} (no client-side re-check) over a one-queue topic holding 30
     * interleaved TagA/TagB/TagC messages must return the 20 TagA/TagB ones only.
     */
    @Test
    @Timeout(120)
    void brokerFiltersTagsOnPull() throws Exception {
        String scenario = "tags_broker_side";
        Wire wire = new Wire();
        String topic = Interop.name("topic", scenario);
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        try {
            String brokerName =
                Interop.createTopic(producer, topic, 1, wire).get(0).getBrokerName();
            String[] tags = {"TagA", "TagB", "TagC"};
            for (int i = 0; i < 30; i++) {
                producer.send(Interop.message(topic, tags[i % 3], scenario + "-" + i));
            }
            // Dispatch into the consume queue is asynchronous (as RocketMQ's reput): pull
            // again until all 20 have arrived, within 5 s.
            List<MessageExt> got = RawPull.pull(producer, brokerName,
                Interop.name("cg", scenario), topic, 0, 0, 32, "TagA || TagB");
            long deadline = System.currentTimeMillis() + 5000;
            while (got.size() < 20 && System.currentTimeMillis() < deadline) {
                Thread.sleep(50);
                got = RawPull.pull(producer, brokerName,
                    Interop.name("cg", scenario), topic, 0, 0, 32, "TagA || TagB");
            }
            long a = got.stream().filter(m -> "TagA".equals(m.getTags())).count();
            long b = got.stream().filter(m -> "TagB".equals(m.getTags())).count();
            long other = got.size() - a - b;
            String line = "stored 10 TagA + 10 TagB + 10 TagC in one queue; raw pull of"
                + " 'TagA || TagB' from offset 0 returned " + got.size() + " messages: TagA=" + a
                + " TagB=" + b + " other=" + other;
            boolean pass = a == 10 && b == 10 && other == 0;
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            Interop.shutdownQuietly(producer);
        }
    }
}
