package dev.apogee.interop;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/** Counts deliveries per message key: unique keys, duplicates, misses, strays. Thread-safe. */
final class Tally {
    private final ConcurrentHashMap<String, AtomicInteger> counts = new ConcurrentHashMap<>();
    private final AtomicLong deliveries = new AtomicLong();

    void record(String key) {
        counts.computeIfAbsent(String.valueOf(key), k -> new AtomicInteger()).incrementAndGet();
        deliveries.incrementAndGet();
    }

    /** Distinct keys seen. */
    int unique() {
        return counts.size();
    }

    /** Every delivery, duplicates included. */
    long deliveries() {
        return deliveries.get();
    }

    /** Deliveries beyond the first of each key. */
    long duplicates() {
        return deliveries.get() - counts.size();
    }

    boolean contains(String key) {
        return counts.containsKey(key);
    }

    Set<String> keySet() {
        return new HashSet<>(counts.keySet());
    }

    /** Expected keys never seen. */
    List<String> missing(Collection<String> expected) {
        List<String> out = new ArrayList<>();
        for (String k : expected) {
            if (!counts.containsKey(k)) {
                out.add(k);
            }
        }
        return out;
    }

    /** Keys seen that were not expected. */
    List<String> strays(Collection<String> expected) {
        Set<String> exp = new HashSet<>(expected);
        List<String> out = new ArrayList<>();
        for (String k : counts.keySet()) {
            if (!exp.contains(k)) {
                out.add(k);
            }
        }
        return out;
    }

    /** "sent=… received=… duplicates=… missing=…" against the expected keys. */
    String describe(Collection<String> expected) {
        List<String> miss = missing(expected);
        List<String> stray = strays(expected);
        return "expected=" + expected.size() + " receivedUnique=" + unique()
            + " deliveries=" + deliveries() + " duplicates=" + duplicates()
            + " missing=" + miss.size() + sample(miss)
            + (stray.isEmpty() ? "" : " unexpected=" + stray.size() + sample(stray));
    }

    static String sample(List<String> keys) {
        if (keys.isEmpty()) {
            return "";
        }
        return " " + keys.subList(0, Math.min(5, keys.size())) + (keys.size() > 5 ? "…" : "");
    }
}
