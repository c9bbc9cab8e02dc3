package dev.apogee.interop;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.LongAdder;

import org.apache.rocketmq.remoting.RPCHook;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;

/**
 * An observing {@link RPCHook} (the client's public extension point, used by ACL): counts
 * each request code and the response code it got, with the first remark of every non-SUCCESS
 * pair, so a scenario's summary can say exactly which requests the broker refused or did not
 * support. It changes nothing on the wire. The hook also sees the requests the broker sends to
 * the client (NOTIFY_CONSUMER_IDS_CHANGED); oneway requests have no answer to count.
 */
final class Wire implements RPCHook {
    private static final Map<Integer, String> REQUEST = names(
        "org.apache.rocketmq.remoting.protocol.RequestCode", // 5.x
        "org.apache.rocketmq.common.protocol.RequestCode"); // 4.x
    private static final Map<Integer, String> RESPONSE = names(
        "org.apache.rocketmq.remoting.protocol.ResponseCode", // 5.x
        "org.apache.rocketmq.common.protocol.ResponseCode"); // 4.x

    private final ConcurrentHashMap<String, LongAdder> sent = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, LongAdder> answered = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, String> remarks = new ConcurrentHashMap<>();
    private final List<String> notes = new CopyOnWriteArrayList<>();

    /** -Dinterop.trace=11,36 prints every request / answer with these codes (debugging). */
    private static final String TRACE = "," + System.getProperty("interop.trace", "") + ",";

    @Override
    public void doBeforeRequest(String remoteAddr, RemotingCommand request) {
        sent.computeIfAbsent(request(request.getCode()), k -> new LongAdder()).increment();
        trace("->", remoteAddr, request, null);
    }

    private static void trace(String dir, String addr, RemotingCommand request,
                              RemotingCommand response) {
        if (TRACE.contains("," + request.getCode() + ",")) {
            System.out.println(System.currentTimeMillis() + " wire " + dir + " " + addr + " "
                + request(request.getCode()) + " " + request.getExtFields()
                + (response == null ? "" : " => " + response(response.getCode()) + " "
                + response.getExtFields()));
        }
    }

    @Override
    public void doAfterResponse(String remoteAddr, RemotingCommand request,
                                RemotingCommand response) {
        trace("<-", remoteAddr, request, response);
        String key = request(request.getCode()) + " -> "
            + (response == null ? "no response" : response(response.getCode()));
        answered.computeIfAbsent(key, k -> new LongAdder()).increment();
        if (response != null && response.getCode() != 0) {
            String remark = String.valueOf(response.getRemark()).replaceAll("\\s+", " ").trim();
            remarks.putIfAbsent(key, remoteAddr + ": " + remark);
        }
    }

    /** Attaches an observation to this scenario's summary. */
    void note(String text) {
        notes.add(text);
    }

    /** "; notes: …" or "". */
    String notes() {
        return notes.isEmpty() ? "" : "; notes: " + String.join("; ", notes);
    }

    /** Every request code through the hook (both directions), with counts. */
    String requests() {
        Map<String, Long> out = new TreeMap<>();
        sent.forEach((k, v) -> out.put(k, v.sum()));
        return out.toString();
    }

    /**
     * The non-SUCCESS answers, e.g.
     * {@code CONSUMER_SEND_MSG_BACK(36) -> REQUEST_CODE_NOT_SUPPORTED(3) x100 "…"}; "none"
     * if every answered request succeeded.
     */
    String problems() {
        Map<String, String> out = new TreeMap<>();
        answered.forEach((k, v) -> {
            if (remarks.containsKey(k)) {
                out.put(k, "x" + v.sum() + " \"" + remarks.get(k) + "\"");
            }
        });
        if (out.isEmpty()) {
            return "none";
        }
        StringBuilder b = new StringBuilder();
        out.forEach((k, v) ->
            b.append(b.length() == 0 ? "" : "; ").append(k).append(' ').append(v));
        return b.toString();
    }

    static String request(int code) {
        return REQUEST.getOrDefault(code, "REQUEST") + "(" + code + ")";
    }

    static String response(int code) {
        return RESPONSE.getOrDefault(code, "RESPONSE") + "(" + code + ")";
    }

    private static Map<Integer, String> names(String... classNames) {
        Map<Integer, String> names = new HashMap<>();
        for (String className : classNames) {
            try {
                for (Field f : Class.forName(className).getFields()) {
                    if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class) {
                        names.putIfAbsent(f.getInt(null), f.getName());
                    }
                }
                return names;
            } catch (ClassNotFoundException | IllegalAccessException e) {
                // the other client line's package
            }
        }
        return names;
    }
}
