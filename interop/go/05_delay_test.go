package interop

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// slack for timer granularity when comparing a delay with what the client measured (the
// send is timed from before the request, so a correct broker is never early at all).
const slack = 100 * time.Millisecond

// Scenario 7: messages with DelayTimeLevel 1 (1 s) and 2 (5 s) arrive, and no earlier
// than their level's delay; messages sent alongside without a delay arrive at once.
func TestDelay(t *testing.T) {
	topic := name(t, "topic")
	createTopic(t, topic, 4)
	got := newTally()
	startConsumer(t, name(t, "cg"), instance(t, "c"), topic, all, got.listener("c"))
	p := newProducer(t)

	// Warm-up: the consumer is pulling before the timed messages are sent.
	warm := map[string]string{"warm-up": "warm-up"}
	sendSync(t, p, msg(topic, "warm-up", "warm-up"))
	if !got.waitKeys(warm) {
		t.Fatalf("warm-up message not received within %v", waitTimeout)
	}

	levels := map[int]time.Duration{0: 0, 1: time.Second, 2: 5 * time.Second}
	want := map[string]string{}
	sentAt := map[string]time.Time{}
	level := map[string]int{}
	for i := 0; i < 5; i++ {
		for _, l := range []int{2, 1, 0} {
			key := fmt.Sprintf("delay-l%d-%d", l, i)
			m := msg(topic, key, "delayed "+key)
			m.WithTag(fmt.Sprintf("L%d", l))
			if l > 0 {
				m.WithDelayTimeLevel(l)
			}
			want[key] = "delayed " + key
			level[key] = l
			sentAt[key] = time.Now()
			sendSync(t, p, m)
		}
	}
	if !got.waitKeys(want) {
		t.Errorf("after %v: %d of %d received", waitTimeout, got.distinct("delay-"), len(want))
	}
	got.check(t, "delay", "delay-", want, false)
	worst := map[int][2]time.Duration{}
	for key, l := range level {
		ds := got.get(key)
		if len(ds) == 0 {
			continue
		}
		d := ds[0]
		took := d.at.Sub(sentAt[key])
		if d.topic != topic || d.tag != fmt.Sprintf("L%d", l) {
			t.Errorf("%s arrived on topic %q with tag %q", key, d.topic, d.tag)
		}
		switch {
		case l > 0 && took < levels[l]-slack:
			t.Errorf("%s (level %d, %v) arrived after %v: too early", key, l, levels[l], took)
		case l > 0 && took > levels[l]+10*time.Second:
			t.Errorf("%s (level %d, %v) arrived after %v: over 10 s late", key, l, levels[l], took)
		case l == 0 && took > time.Second:
			t.Errorf("%s (no delay) arrived after %v", key, took)
		}
		w := worst[l]
		if w[0] == 0 || took < w[0] {
			w[0] = took
		}
		if took > w[1] {
			w[1] = took
		}
		worst[l] = w
	}
	for _, l := range []int{0, 1, 2} {
		t.Logf("level %d (%v): arrived after %v .. %v", l, levels[l],
			worst[l][0].Round(time.Millisecond), worst[l][1].Round(time.Millisecond))
	}
}

// Scenario 8: the listener answers ConsumeRetryLater to each message's first delivery; the
// broker redelivers it (through %RETRY%<group>, after the level 3 = 10 s delay that RocketMQ
// applies when the client asks for delay level 0) with reconsume times >= 1, and then it
// succeeds, once.
func TestRetry(t *testing.T) {
	const n = 10
	topic := name(t, "topic")
	createTopic(t, topic, 4)
	var mu sync.Mutex
	first := map[string]time.Time{}
	firstCount := map[string]int{}
	got := newTally() // successful (re)deliveries only
	listen := func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		retry := false
		for _, m := range msgs {
			if m.ReconsumeTimes == 0 {
				mu.Lock()
				if _, ok := first[m.GetKeys()]; !ok {
					first[m.GetKeys()] = time.Now()
				}
				firstCount[m.GetKeys()]++
				mu.Unlock()
				retry = true
			}
		}
		if retry {
			return consumer.ConsumeRetryLater, nil
		}
		for _, m := range msgs {
			got.add("c", m)
		}
		return consumer.ConsumeSuccess, nil
	}
	group := name(t, "cg")
	// The broker creates %RETRY%<group> on the group's first heartbeat, but a push consumer
	// looks its route up before that and only takes its queues at its next rebalance, 20 s
	// on. A first member that creates it and leaves makes the measured consumer pull
	// %RETRY% from its start, so that the redelivery time is the broker's delay.
	warm := startConsumer(t, group, instance(t, "warm"), topic, all, listen)
	if !waitUntil(waitTimeout, func() bool { _, err := publishQueues(t, "%RETRY%"+group); return err == nil }) {
		t.Fatalf("no route for %%RETRY%%%s within %v of the group's first heartbeat", group, waitTimeout)
	}
	_ = warm.Shutdown()
	startConsumer(t, group, instance(t, "c"), topic, all, listen)
	p := newProducer(t)
	want := map[string]string{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("retry-%02d", i)
		want[key] = "retried " + key
		m := msg(topic, key, want[key])
		m.WithTag("R")
		m.WithProperty("origin", key)
		sendSync(t, p, m)
	}
	if !got.waitKeys(want) {
		mu.Lock()
		t.Errorf("after %v: %d of %d first deliveries, %d of %d redeliveries",
			waitTimeout, len(first), n, got.distinct("retry-"), n)
		mu.Unlock()
	}
	time.Sleep(time.Second)
	got.check(t, "retry", "retry-", want, false)
	mu.Lock()
	defer mu.Unlock()
	var minGap, maxGap time.Duration
	for key := range want {
		ds := got.get(key)
		f, ok := first[key]
		if !ok {
			t.Errorf("%s: redelivered without a first delivery (reconsume times 0)", key)
			continue
		}
		if firstCount[key] != 1 {
			t.Errorf("%s: first delivery (reconsume times 0) seen %d times", key, firstCount[key])
		}
		if len(ds) == 0 {
			continue
		}
		d := ds[0]
		if d.reconsume < 1 {
			t.Errorf("%s: redelivered with reconsume times %d", key, d.reconsume)
		}
		if d.topic != topic || d.tag != "R" || d.props["origin"] != key {
			t.Errorf("%s: redelivered on topic %q, tag %q, property origin %q", key, d.topic, d.tag, d.props["origin"])
		}
		gap := d.at.Sub(f)
		if gap < 10*time.Second-slack {
			t.Errorf("%s: redelivered %v after the first delivery, before the level 3 delay (10 s)", key, gap)
		} else if gap > 15*time.Second {
			t.Errorf("%s: redelivered %v after the first delivery, over 5 s after the level 3 delay (10 s)", key, gap)
		}
		if minGap == 0 || gap < minGap {
			minGap = gap
		}
		if gap > maxGap {
			maxGap = gap
		}
	}
	t.Logf("retry: %d messages redelivered %v .. %v after the first delivery",
		n, minGap.Round(time.Millisecond), maxGap.Round(time.Millisecond))
}
