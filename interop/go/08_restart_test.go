package interop

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// Scenario 9: a consumer takes part of the messages and shuts down (Shutdown commits its
// offsets); the broker is restarted on the same data directory; the producer that lived
// through the restart sends more; a new consumer in the group gets the rest and does not
// start over.
//
// What comes again is measured: the Go client commits (with requests it does not wait for)
// the lowest offset still in its process queue, so the messages it consumed above one it
// held come again. Any message from below that offset coming again fails the test (the
// broker lost or regressed the committed offset, or the consumer started over).
func TestResumeAfterBrokerRestart(t *testing.T) {
	if restartCmd == "" {
		t.Fatal("APOGEE_RESTART_CMD is not set (a command that restarts the broker: `<cmd> restart`)")
	}
	const before, part, after = 200, 100, 50
	topic := name(t, "topic")
	createTopic(t, topic, 4)
	group := name(t, "cg")
	p := newProducer(t)
	want := map[string]string{}
	type slot struct {
		queue  int
		offset int64
	}
	where := map[string]slot{}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			key := fmt.Sprintf("resume-%04d", i)
			want[key] = "resume " + key
			res := sendSync(t, p, msg(topic, key, want[key]))
			where[key] = slot{res.MessageQueue.QueueId, res.QueueOffset}
		}
	}
	send(0, before)

	// First consumer: takes `part` messages, then holds every further delivery until it is
	// shut down, and answers those ConsumeRetryLater (dropped: their queue is gone by then).
	first := newTally()
	var mu sync.Mutex
	taken := 0
	release := make(chan struct{})
	listen1 := func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		if taken+len(msgs) <= part {
			taken += len(msgs)
			for _, m := range msgs {
				first.add("c1", m)
			}
			mu.Unlock()
			return consumer.ConsumeSuccess, nil
		}
		mu.Unlock()
		<-release
		return consumer.ConsumeRetryLater, nil
	}
	c1 := startConsumer(t, group, instance(t, "c1"), topic, all, listen1, consumer.WithConsumeMessageBatchMaxSize(1))
	if !waitUntil(waitTimeout, func() bool { mu.Lock(); defer mu.Unlock(); return taken == part }) {
		close(release)
		t.Fatalf("first consumer took %d of %d messages within %v", taken, part, waitTimeout)
	}
	time.Sleep(200 * time.Millisecond) // the last successful listeners return and move the offsets
	if err := c1.Shutdown(); err != nil {
		t.Errorf("first consumer Shutdown: %v", err)
	}
	close(release)
	// The offset commits of Shutdown are requests the client does not wait for: give them
	// a moment to land.
	time.Sleep(500 * time.Millisecond)

	start := time.Now()
	out, err := exec.Command(restartCmd, "restart").CombinedOutput()
	if err != nil {
		t.Fatalf("%s restart: %v\n%s", restartCmd, err, out)
	}
	t.Logf("broker restarted in %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))

	// The producer lived through the restart.
	send(before, before+after)

	second := newTally()
	startConsumer(t, group, instance(t, "c2"), topic, all, second.listener("c2"))
	firstKeys := map[string]bool{}
	for _, d := range first.snapshot() {
		firstKeys[d.key] = true
	}
	rest := map[string]string{}
	for k, v := range want {
		if !firstKeys[k] {
			rest[k] = v
		}
	}
	if !second.waitKeys(rest) {
		t.Errorf("after %v the second consumer has %d of the %d messages the first did not take",
			waitTimeout, countIn(second, rest), len(rest))
	}
	time.Sleep(2 * time.Second) // whatever else is coming
	first.check(t, "first consumer", "resume-", onlyKeys(want, firstKeys), false)
	// Duplicates of the rest (a key twice at the second consumer) are reported, not failed.
	// (No prefix: the first part's keys coming again are looked at below, not "unexpected".)
	second.check(t, "second consumer, the rest", "\x00", rest, true)

	// What the first consumer committed, per queue: the offset of the queue's first message
	// it did not consume. Its messages at or above that come again.
	gap := map[int]int64{}
	for k, w := range where {
		if !firstKeys[k] {
			if g, ok := gap[w.queue]; !ok || w.offset < g {
				gap[w.queue] = w.offset
			}
		}
	}
	expected := map[string]bool{}
	for k := range firstKeys {
		w := where[k]
		if g, ok := gap[w.queue]; ok && w.offset >= g {
			expected[k] = true
		}
	}
	var again, older []string
	seenAgain := map[string]bool{}
	for _, d := range second.snapshot() {
		if !firstKeys[d.key] || seenAgain[d.key] {
			continue
		}
		seenAgain[d.key] = true
		w := where[d.key]
		desc := fmt.Sprintf("%s(q%d@%d)", d.key, w.queue, w.offset)
		again = append(again, desc)
		if !expected[d.key] {
			older = append(older, desc)
		}
	}
	sort.Strings(again)
	t.Logf("resume: the first consumer took %d; first offset it did not consume, per queue: %v; the second got %d deliveries;"+
		" %d of the first %d came again (%d at or above those offsets): %v",
		len(firstKeys), gap, len(second.snapshot()), len(again), len(firstKeys), len(expected), sample(again))
	if len(older) > 0 {
		t.Errorf("%d messages came again from below the committed offsets %v (resumed from an older offset, or started over): %v",
			len(older), gap, sample(older))
	}
	if len(again) < len(expected) {
		t.Logf("%d messages at or above the committed offsets did not come again (committed later than the rule says)",
			len(expected)-len(again))
	}
}

func countIn(c *tally, keys map[string]string) int {
	n := 0
	for k := range keys {
		if len(c.get(k)) > 0 {
			n++
		}
	}
	return n
}

func onlyKeys(m map[string]string, keys map[string]bool) map[string]string {
	out := map[string]string{}
	for k := range keys {
		out[k] = m[k]
	}
	return out
}
