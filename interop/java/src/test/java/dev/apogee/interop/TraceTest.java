package dev.apogee.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import com.alibaba.fastjson.JSON;
import com.alibaba.fastjson.JSONArray;
import com.alibaba.fastjson.JSONObject;
import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragely;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.trace.TraceContext;
import org.apache.rocketmq.client.trace.TraceDataEncoder;
import org.apache.rocketmq.client.trace.TraceView;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.topic.TopicValidator;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Message trace as the Java client writes it ({@code enableMsgTrace}): a tracing producer
 * sends one message with a key, a tracing push consumer takes it, and both clients' trace
 * dispatchers write their records (Pub, SubBefore, SubAfter) to RMQ_SYS_TRACE_TOPIC, keyed
 * by the message id. The trace is then read back the way {@code mqadmin queryMsgTraceById}
 * reads it (QUERY_MESSAGE by key on the trace topic, bodies decoded by the client's
 * {@code TraceView}), and with {@code apogee admin queryMsgTraceById --json}; the consumed
 * message must carry the broker's region and trace switch (MSG_REGION, TRACE_ON).
 *
 * <p>The constructors with (group, hook, enableMsgTrace, traceTopic) exist unchanged in 4.9.x
 * and 5.x; a null trace topic means the default.
 */
class TraceTest {
    static final String SCENARIO = "trace";
    static final String TRACE_TOPIC = TopicValidator.RMQ_SYS_TRACE_TOPIC;
    /** Trace dispatchers batch and flush within about 0.5–5 s. */
    static final Duration TRACE_WAIT = Duration.ofSeconds(20);

    static final Wire WIRE = new Wire();
    static final String TOPIC = Interop.name("topic", SCENARIO);
    static final String PRODUCER_GROUP = Interop.name("pg", SCENARIO);
    static final String CONSUMER_GROUP = Interop.name("cg", SCENARIO);
    static final String KEY = Interop.name("key", SCENARIO);
    static final List<MessageExt> RECEIVED = new CopyOnWriteArrayList<>();

    static DefaultMQProducer producer;
    static DefaultMQPushConsumer consumer;
    static SendResult sent;
    static String setup;

    @BeforeAll
    static void sendAndConsumeWithTrace() throws Exception {
        producer = new DefaultMQProducer(PRODUCER_GROUP, WIRE, true, null);
        producer.setNamesrvAddr(Interop.namesrv());
        producer.setInstanceName(Interop.name("producer", SCENARIO));
        producer.start();
        Interop.createTopic(producer, TOPIC, 2, WIRE);

        consumer = new DefaultMQPushConsumer(CONSUMER_GROUP, WIRE,
            new AllocateMessageQueueAveragely(), true, null);
        consumer.setNamesrvAddr(Interop.namesrv());
        consumer.setInstanceName(CONSUMER_GROUP + "_m1");
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.subscribe(TOPIC, "*");
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            RECEIVED.addAll(msgs);
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumer.start();
        boolean assigned = Interop.await(Duration.ofSeconds(30),
            () -> Interop.assigned(consumer, TOPIC).size() == 2);

        sent = producer.send(Interop.message(TOPIC, "TagA", KEY));
        boolean received = Interop.await(Duration.ofSeconds(30), () -> !RECEIVED.isEmpty());
        setup = "queues assigned=" + assigned + "; send " + sent.getSendStatus() + " msgId="
            + sent.getMsgId() + " offsetMsgId=" + sent.getOffsetMsgId() + "; received="
            + RECEIVED.size();
        assertEquals(SendStatus.SEND_OK, sent.getSendStatus(), setup);
        assertTrue(received, "the tracing consumer did not get the message in 30 s: " + setup);
    }

    @AfterAll
    static void shutdown() {
        Interop.shutdownQuietly(consumer, producer);
    }

    /** Scenario 1: the Java admin client finds the Pub and SubAfter records by message id. */
    @Test
    @Timeout(120)
    void javaAdminReadsTheTrace() throws Exception {
        String scenario = "trace-java";
        String msgId = sent.getMsgId();
        DefaultMQAdminExt admin = new DefaultMQAdminExt(WIRE);
        admin.setNamesrvAddr(Interop.namesrv());
        admin.setInstanceName(Interop.name("admin", SCENARIO));
        admin.start();
        try {
            List<TraceView> views = new ArrayList<>();
            int traceMessages = 0;
            int records = 0;
            String lastError = "";
            long t0 = System.nanoTime();
            long deadline = t0 + TRACE_WAIT.toNanos();
            do {
                views.clear();
                try {
                    // As QueryMsgTraceByIdSubCommand does (QUERY_MESSAGE by key = the id).
                    QueryResult r = admin.queryMessage(TRACE_TOPIC, msgId, 64, 0,
                        System.currentTimeMillis());
                    traceMessages = r.getMessageList().size();
                    records = 0;
                    for (MessageExt m : r.getMessageList()) {
                        String body = new String(m.getBody(), StandardCharsets.UTF_8);
                        List<TraceContext> contexts =
                            TraceDataEncoder.decoderFromTraceDataString(body);
                        records += contexts.size();
                        views.addAll(TraceView.decodeFromTraceTransData(msgId, m));
                    }
                    lastError = "";
                } catch (Exception e) {
                    lastError = " last error: " + e.toString().replaceAll("\\s+", " ");
                }
                if (has(views, "Pub", PRODUCER_GROUP) && has(views, "SubAfter", CONSUMER_GROUP)) {
                    break;
                }
                Thread.sleep(500);
            } while (System.nanoTime() < deadline);
            TraceView pub = first(views, v -> v.getMsgType().equals("Pub")
                && PRODUCER_GROUP.equals(v.getGroupName()));
            TraceView subAfter = first(views, v -> v.getMsgType().equals("SubAfter")
                && CONSUMER_GROUP.equals(v.getGroupName()));
            boolean pass = pub != null && TOPIC.equals(pub.getTopic())
                && "success".equals(pub.getStatus()) && KEY.equals(pub.getKeys())
                && subAfter != null && "success".equals(subAfter.getStatus());
            String line = setup + "; after " + (System.nanoTime() - t0) / 1_000_000 + " ms: "
                + traceMessages + " trace messages, " + records + " records, for " + msgId + ": "
                + describe(views) + lastError;
            Interop.summary(scenario, pass, line, WIRE);
            assertNotNull(pub, "no Pub record of producer group " + PRODUCER_GROUP + ": " + line);
            assertNotNull(subAfter,
                "no SubAfter record of consumer group " + CONSUMER_GROUP + ": " + line);
            assertTrue(pass, scenario + ": " + line);
        } finally {
            admin.shutdown();
        }
    }

    /** Scenario 2: {@code apogee admin queryMsgTraceById --json} shows the same records. */
    @Test
    @Timeout(120)
    void apogeeAdminReadsTheTrace() throws Exception {
        String scenario = "trace-apogee";
        String bin = Interop.apogeeBin();
        assertNotNull(bin, "no apogee binary: set -Dapogee.bin=PATH or APOGEE_BIN"
            + " (run.sh sets both)");
        String msgId = sent.getMsgId();
        List<String> cmd = List.of(bin, "admin", "queryMsgTraceById", "-i", msgId,
            "-n", Interop.namesrv(), "--json");
        JSONArray traces = new JSONArray();
        String last = "";
        long t0 = System.nanoTime();
        long deadline = t0 + TRACE_WAIT.toNanos();
        JSONObject pub;
        JSONObject subAfter;
        do {
            Output out = run(cmd);
            last = out.stdout() + " [" + out.diagnostics() + "]";
            try {
                JSONObject doc = JSON.parseObject(out.stdout());
                traces = doc.getJSONArray("traces");
                if (!msgId.equals(doc.getString("msgId"))
                    || !TRACE_TOPIC.equals(doc.getString("traceTopic")) || traces == null) {
                    traces = new JSONArray();
                }
            } catch (RuntimeException e) {
                traces = new JSONArray();
                last = last + " (not JSON: " + e.getMessage() + ")";
            }
            pub = firstJson(traces, "Pub", PRODUCER_GROUP);
            subAfter = firstJson(traces, "SubAfter", CONSUMER_GROUP);
            if (pub != null && subAfter != null) {
                break;
            }
            Thread.sleep(500);
        } while (System.nanoTime() < deadline);
        boolean pass = pub != null && TOPIC.equals(pub.getString("topic"))
            && msgId.equals(pub.getString("msgId")) && pub.getBooleanValue("success")
            && "success".equals(pub.getString("status"))
            && subAfter != null && msgId.equals(subAfter.getString("msgId"))
            && subAfter.getBooleanValue("success")
            && "success".equals(subAfter.getString("status"));
        StringBuilder types = new StringBuilder();
        for (int i = 0; i < traces.size(); i++) {
            JSONObject t = traces.getJSONObject(i);
            types.append(i == 0 ? "" : ", ").append(t.getString("type")).append(' ')
                .append(t.getString("group")).append(' ').append(t.getString("status"));
        }
        String line = "apogee admin queryMsgTraceById after "
            + (System.nanoTime() - t0) / 1_000_000 + " ms: [" + types + "]"
            + (pass ? "" : "; output: " + last);
        Interop.summary(scenario, pass, line, WIRE);
        assertNotNull(pub, "no Pub of " + PRODUCER_GROUP + " in the output: " + line);
        assertNotNull(subAfter, "no SubAfter of " + CONSUMER_GROUP + " in the output: " + line);
        assertTrue(pass, scenario + ": " + line);
    }

    /** Scenario 3: the broker stamps its region and trace switch on the stored message. */
    @Test
    @Timeout(60)
    void storedMessageCarriesTheRegion() {
        String scenario = "trace-region";
        MessageExt m = RECEIVED.get(0);
        String region = m.getProperty(MessageConst.PROPERTY_MSG_REGION);
        String traceOn = m.getProperty(MessageConst.PROPERTY_TRACE_SWITCH);
        boolean pass = KEY.equals(m.getKeys()) && "DefaultRegion".equals(region)
            && "true".equals(traceOn);
        String line = "consumed " + m.getMsgId() + " keys=" + m.getKeys() + " "
            + MessageConst.PROPERTY_MSG_REGION + "=" + region + " "
            + MessageConst.PROPERTY_TRACE_SWITCH + "=" + traceOn
            + (pass ? "" : "; properties " + m.getProperties());
        Interop.summary(scenario, pass, line, WIRE);
        assertEquals(KEY, m.getKeys(), line);
        assertEquals("DefaultRegion", region, line);
        assertEquals("true", traceOn, line);
    }

    // ---------------------------------------------------------------- helpers

    static boolean has(List<TraceView> views, String type, String group) {
        return first(views, v -> type.equals(v.getMsgType()) && group.equals(v.getGroupName()))
            != null;
    }

    static TraceView first(List<TraceView> views, Predicate<TraceView> p) {
        return views.stream().filter(p).findFirst().orElse(null);
    }

    static String describe(List<TraceView> views) {
        List<String> out = new ArrayList<>();
        for (TraceView v : views) {
            out.add(v.getMsgType() + " " + v.getGroupName() + " " + v.getTopic() + " "
                + v.getStatus() + " " + v.getCostTime() + "ms");
        }
        return out.toString();
    }

    static JSONObject firstJson(JSONArray traces, String type, String group) {
        for (int i = 0; i < traces.size(); i++) {
            JSONObject t = traces.getJSONObject(i);
            if (type.equals(t.getString("type")) && group.equals(t.getString("group"))) {
                return t;
            }
        }
        return null;
    }

    /** What a command printed: stdout, and its exit status and stderr for the report. */
    record Output(String stdout, String diagnostics) {
    }

    /**
     * Runs {@code cmd} and returns what it printed. The output is read rather than inherited:
     * the forked JVM's stdout is Surefire's channel.
     */
    static Output run(List<String> cmd) throws Exception {
        File err = File.createTempFile("apogee-admin", ".err");
        try {
            Process proc = new ProcessBuilder(cmd).redirectError(err).start();
            proc.getOutputStream().close();
            byte[] out = proc.getInputStream().readAllBytes(); // ends when the command exits
            if (!proc.waitFor(30, TimeUnit.SECONDS)) {
                proc.destroyForcibly();
                return new Output("", String.join(" ", cmd) + " did not finish within 30 s");
            }
            String stderr = Files.readString(err.toPath()).trim();
            return new Output(new String(out, StandardCharsets.UTF_8).trim(),
                "exit " + proc.exitValue() + (stderr.isEmpty() ? "" : ", stderr: " + stderr));
        } finally {
            err.delete();
        }
    }
}
