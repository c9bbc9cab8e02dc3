package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Scenario 4: two broadcasting consumers of one group each receive every message. */
class BroadcastingTest {
    static final int QUEUES = 4;
    static final int MESSAGES = 1_000;

    @Test
    @Timeout(240)
    void eachBroadcastingMemberReceivesEverything() throws Exception {
        String scenario = "broadcasting";
        Wire wire = new Wire();
        String topic = Interop.name("topic", scenario);
        String group = Interop.name("cg", scenario);
        DefaultMQProducer producer = Interop.producer(scenario, wire);
        List<DefaultMQPushConsumer> members = new ArrayList<>();
        Tally[] per = {new Tally(), new Tally()};
        try {
            Interop.createTopic(producer, topic, QUEUES, wire);
            for (int i = 0; i < 2; i++) {
                Tally mine = per[i];
                DefaultMQPushConsumer c =
                    Interop.pushConsumer(group, "m" + (i + 1), topic, "*", wire);
                Interop.messageModel(c, "BROADCASTING");
                c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                    for (MessageExt m : msgs) {
                        mine.record(m.getKeys());
                    }
                    return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
                });
                c.start();
                members.add(c);
            }
            boolean settled = Interop.await(Duration.ofSeconds(60),
                () -> members.stream().allMatch(c -> Interop.assigned(c, topic).size() == QUEUES));

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
            Interop.await(Duration.ofSeconds(60),
                () -> per[0].unique() >= keys.size() && per[1].unique() >= keys.size());
            Thread.sleep(2_000);
            String line = (settled ? "" : "members did NOT each hold all queues after 60 s; ")
                + "sent=" + keys.size() + " sendFailures=" + sendFailures + firstFailure
                + "; m1 " + per[0].describe(keys) + "; m2 " + per[1].describe(keys);
            boolean pass = sendFailures == 0;
            for (Tally t : per) {
                pass &= t.missing(keys).isEmpty() && t.duplicates() == 0;
            }
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            Interop.shutdownQuietly(members.toArray());
            Interop.shutdownQuietly(producer);
        }
    }
}
