/*
 * The official RocketMQ Java client (the rocketmq-client that mqadmin's own classpath
 * carries: 4.9.8 or 5.5.0) as the long-running consumer and producer that some mqadmin
 * scenarios need online (consumerConnection, producerConnection, consumerProgress, and
 * resetOffsetByTime, which the broker forwards to the consumer: RESET_CONSUMER_CLIENT_OFFSET).
 *
 *   Clients consume NAMESRV GROUP TOPIC
 *       push consumer (clustering, CONSUME_FROM_FIRST_OFFSET), one line per message:
 *       "RECV <queueId> <queueOffset> <msgId> <keys> <reconsumeTimes>"
 *   Clients produce NAMESRV GROUP TOPIC COUNT [KEY_PREFIX]
 *       sends COUNT messages (tag "mqadmin", keys KEY_PREFIX-<i>, body "body-<i>"), one
 *       line per send: "SENT <i> <msgId> <offsetMsgId> <queueId> <queueOffset> <status>",
 *       then "SENT_ALL <n>", and stays online (heartbeats) until stdin closes
 *
 * Both print "READY <clientId>" once started and shut down (a consumer commits its offsets)
 * when standard input closes, printing "STOPPED". Client logs go under -Duser.home.
 */
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

@SuppressWarnings("deprecation")
public final class Clients {
    private Clients() {
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    /** Blocks until standard input reaches its end (the harness closes it to stop us). */
    private static void awaitStdinEof() {
        InputStream in = System.in;
        byte[] buf = new byte[256];
        try {
            while (in.read(buf) >= 0) {
                // ignore input; only its end matters
            }
        } catch (IOException ignored) {
            // treated as the end
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: Clients consume NAMESRV GROUP TOPIC | produce NAMESRV GROUP TOPIC COUNT [KEY_PREFIX]");
            Runtime.getRuntime().halt(64);
        }
        String mode = args[0], namesrv = args[1], group = args[2], topic = args[3];
        String instance = "mqadmin-it-" + ProcessHandle.current().pid();
        int status = 0;
        try {
            if (mode.equals("consume")) {
                consume(namesrv, group, topic, instance);
            } else if (mode.equals("produce")) {
                int count = Integer.parseInt(args[4]);
                String prefix = args.length > 5 ? args[5] : topic;
                produce(namesrv, group, topic, instance, count, prefix);
            } else {
                System.err.println("unknown mode " + mode);
                status = 64;
            }
        } catch (Throwable t) {
            t.printStackTrace();
            status = 1;
        }
        say("STOPPED");
        System.err.flush();
        // Netty's graceful shutdown would keep the JVM alive for seconds more.
        Runtime.getRuntime().halt(status);
    }

    private static void consume(String namesrv, String group, String topic, String instance) throws Exception {
        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
        consumer.setNamesrvAddr(namesrv);
        consumer.setInstanceName(instance);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.setPersistConsumerOffsetInterval(1000);
        consumer.subscribe(topic, "*");
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ignoredContext) -> {
            for (MessageExt m : msgs) {
                say("RECV " + m.getQueueId() + " " + m.getQueueOffset() + " " + m.getMsgId() + " "
                    + (m.getKeys() == null ? "-" : m.getKeys()) + " " + m.getReconsumeTimes());
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumer.start();
        say("READY " + consumer.getDefaultMQPushConsumerImpl().getmQClientFactory().getClientId());
        awaitStdinEof();
        consumer.shutdown();
    }

    private static void produce(String namesrv, String group, String topic, String instance, int count,
        String prefix) throws Exception {
        DefaultMQProducer producer = new DefaultMQProducer(group);
        producer.setNamesrvAddr(namesrv);
        producer.setInstanceName(instance);
        producer.start();
        say("READY " + producer.getDefaultMQProducerImpl().getmQClientFactory().getClientId());
        for (int i = 0; i < count; i++) {
            Message msg = new Message(topic, "mqadmin", prefix + "-" + i,
                ("body-" + i).getBytes(StandardCharsets.UTF_8));
            SendResult r = producer.send(msg);
            say("SENT " + i + " " + r.getMsgId() + " " + r.getOffsetMsgId() + " " + r.getMessageQueue().getQueueId()
                + " " + r.getQueueOffset() + " " + r.getSendStatus());
        }
        say("SENT_ALL " + count);
        awaitStdinEof();
        producer.shutdown();
    }
}
