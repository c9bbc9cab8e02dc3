package dev.apogee.interop;

import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.util.List;

import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.impl.CommunicationMode;
import org.apache.rocketmq.client.impl.MQClientAPIImpl;
import org.apache.rocketmq.client.impl.consumer.PullResultExt;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * One PULL_MESSAGE sent through the client's own API layer ({@code MQClientAPIImpl}) without
 * the client-side tag re-check that {@code PullAPIWrapper} applies, so a test can see exactly
 * which messages the broker returned. The request header class moved between 4.x and 5.x,
 * so it is built by reflection.
 */
final class RawPull {
    /** PullSysFlag.FLAG_SUBSCRIPTION: the header carries the subscription expression. */
    private static final int FLAG_SUBSCRIPTION = 0x1 << 2;

    private RawPull() {
    }

    static List<MessageExt> pull(DefaultMQProducer via, String brokerName, String group,
                                 String topic, int queueId, long offset, int max,
                                 String tagExpression) throws Exception {
        String addr = via.getDefaultMQProducerImpl().getmQClientFactory()
            .findBrokerAddressInPublish(brokerName);
        Object header = header();
        set(header, "setConsumerGroup", group);
        set(header, "setTopic", topic);
        set(header, "setQueueId", queueId);
        set(header, "setQueueOffset", offset);
        set(header, "setMaxMsgNums", max);
        set(header, "setSysFlag", FLAG_SUBSCRIPTION);
        set(header, "setCommitOffset", 0L);
        set(header, "setSuspendTimeoutMillis", 0L);
        set(header, "setSubscription", tagExpression);
        set(header, "setSubVersion", System.currentTimeMillis());
        set(header, "setExpressionType", "TAG");
        MQClientAPIImpl api = via.getDefaultMQProducerImpl().getmQClientFactory()
            .getMQClientAPIImpl();
        Method pull = null;
        for (Method m : MQClientAPIImpl.class.getMethods()) {
            if (m.getName().equals("pullMessage") && m.getParameterCount() == 5) {
                pull = m;
            }
        }
        if (pull == null) {
            throw new IllegalStateException("MQClientAPIImpl.pullMessage(5 args) not found");
        }
        PullResult r = (PullResult) pull.invoke(api, addr, header, 10_000L,
            CommunicationMode.SYNC, null);
        byte[] binary = ((PullResultExt) r).getMessageBinary();
        if (binary == null || binary.length == 0) {
            return List.of();
        }
        return MessageDecoder.decodes(ByteBuffer.wrap(binary));
    }

    private static Object header() throws ReflectiveOperationException {
        for (String name : new String[] {
            "org.apache.rocketmq.remoting.protocol.header.PullMessageRequestHeader", // 5.x
            "org.apache.rocketmq.common.protocol.header.PullMessageRequestHeader"}) { // 4.x
            try {
                return Class.forName(name).getConstructor().newInstance();
            } catch (ClassNotFoundException e) {
                // try the other line's package
            }
        }
        throw new ClassNotFoundException("PullMessageRequestHeader");
    }

    private static void set(Object target, String setter, Object value)
        throws ReflectiveOperationException {
        for (Method m : target.getClass().getMethods()) {
            if (m.getName().equals(setter) && m.getParameterCount() == 1) {
                m.invoke(target, value);
                return;
            }
        }
        throw new NoSuchMethodException(target.getClass().getName() + "." + setter);
    }
}
