package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Scenario: the official {@code TransactionMQProducer} against Apogee. Local transactions
 * that commit, roll back, or answer UNKNOW and are decided by the broker's check-back
 * (commit or rollback); and halves whose producer shut down before deciding, answered by
 * another producer of the group. A consumer must get exactly the committed messages, each
 * once.
 */
class TransactionTest {
    static final int EACH = 20;

    /** The local transaction's outcome, by key prefix; `orphan` keys: no answer at first. */
    static LocalTransactionState local(String key) {
        if (key.startsWith("commit-")) {
            return LocalTransactionState.COMMIT_MESSAGE;
        }
        if (key.startsWith("rollback-")) {
            return LocalTransactionState.ROLLBACK_MESSAGE;
        }
        return LocalTransactionState.UNKNOW;
    }

    /** What a check-back learns of the local transaction. */
    static LocalTransactionState checked(String key) {
        if (key.startsWith("unknown-commit-") || key.startsWith("orphan-")) {
            return LocalTransactionState.COMMIT_MESSAGE;
        }
        return LocalTransactionState.ROLLBACK_MESSAGE;
    }

    static TransactionMQProducer producer(String group, String member, Wire wire,
                                          TransactionListener listener) throws Exception {
        TransactionMQProducer p = new TransactionMQProducer(group, wire);
        p.setNamesrvAddr(Interop.namesrv());
        p.setInstanceName(group + "_" + member);
        p.setTransactionListener(listener);
        p.start();
        return p;
    }

    @Test
    @Timeout(240)
    void commitsRollbacksAndCheckBacks() throws Exception {
        String scenario = "transaction";
        Wire wire = new Wire();
        String topic = Interop.name("topic", scenario);
        String group = Interop.name("tpg", scenario);
        DefaultMQProducer plain = Interop.producer(scenario, wire);
        DefaultMQPushConsumer consumer = null;
        TransactionMQProducer alive = null;
        TransactionMQProducer dying = null;
        Tally got = new Tally();
        AtomicInteger checks = new AtomicInteger();
        ConcurrentHashMap<String, Boolean> checkedByDying = new ConcurrentHashMap<>();
        try {
            Interop.createTopic(plain, topic, 4, wire);
            consumer = Interop.pushConsumer(Interop.name("cg", scenario), "m1", topic, "*", wire);
            consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    got.record(m.getKeys());
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            consumer.start();
            alive = producer(group, "alive", wire, new TransactionListener() {
                @Override
                public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                    return local(msg.getKeys());
                }

                @Override
                public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                    checks.incrementAndGet();
                    return checked(msg.getKeys());
                }
            });
            dying = producer(group, "dying", wire, new TransactionListener() {
                @Override
                public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                    return LocalTransactionState.UNKNOW;
                }

                @Override
                public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                    checkedByDying.put(msg.getKeys(), true);
                    return LocalTransactionState.UNKNOW;
                }
            });

            List<String> committed = new ArrayList<>();
            List<String> rolledBack = new ArrayList<>();
            long sendFailures = 0;
            String firstFailure = "";
            for (String prefix : new String[] {"commit", "rollback", "unknown-commit",
                "unknown-rollback", "orphan"}) {
                TransactionMQProducer p = prefix.equals("orphan") ? dying : alive;
                for (String key : Interop.keys(prefix, EACH)) {
                    boolean commits = prefix.equals("commit") || prefix.equals("unknown-commit")
                        || prefix.equals("orphan");
                    (commits ? committed : rolledBack).add(key);
                    try {
                        TransactionSendResult r =
                            p.sendMessageInTransaction(Interop.message(topic, "T", key), null);
                        if (r.getSendStatus() != SendStatus.SEND_OK) {
                            throw new IllegalStateException("send status " + r.getSendStatus());
                        }
                    } catch (Exception e) {
                        if (sendFailures++ == 0) {
                            firstFailure = " first=" + e;
                        }
                    }
                }
            }
            // The dying producer leaves before deciding: its halves are checked with the
            // producer that stays.
            dying.shutdown();
            dying = null;
            boolean all = Interop.await(Duration.ofSeconds(90),
                () -> got.unique() >= committed.size());
            Thread.sleep(3_000); // late duplicates or rolled-back messages
            List<String> strays = got.strays(committed);
            String line = "sent=" + (5 * EACH) + " sendFailures=" + sendFailures + firstFailure
                + "; committed received " + got.describe(committed)
                + "; rolled back received=" + strays.size() + " " + Tally.sample(strays)
                + "; check-backs=" + checks.get() + " (dying producer answered "
                + checkedByDying.size() + ")";
            boolean pass = all && sendFailures == 0 && got.missing(committed).isEmpty()
                && strays.isEmpty() && got.duplicates() == 0 && checks.get() >= 3 * EACH;
            Interop.summary(scenario, pass, line, wire);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            Interop.shutdownQuietly(consumer, alive, dying, plain);
        }
    }
}
