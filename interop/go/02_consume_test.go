package interop

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// settle sends rounds of one probe message per queue until two rounds in a row show every
// queue's probe consumed by exactly one member and every member owning a queue, i.e. the
// group's rebalance is over. Returns queue id -> member.
func settle(t *testing.T, p rocketmq.Producer, mqs []*primitive.MessageQueue, got *tally, members []string) map[int]string {
	t.Helper()
	start := time.Now()
	prev := ""
	for round := 0; ; round++ {
		if time.Since(start) > waitTimeout {
			t.Fatalf("group not settled after %v (%d probe rounds; last assignment %s)", waitTimeout, round, prev)
		}
		keys := map[string]string{}
		for _, q := range mqs {
			key := fmt.Sprintf("probe-%03d-%d", round, q.QueueId)
			keys[key] = "probe"
			m := msg(q.Topic, key, "probe")
			m.Queue = q
			sendSync(t, p, m)
		}
		if !waitUntil(10*time.Second, func() bool {
			for k := range keys {
				if len(got.get(k)) == 0 {
					return false
				}
			}
			return true
		}) {
			prev = fmt.Sprintf("round %d: probes missing", round)
			continue
		}
		time.Sleep(200 * time.Millisecond)
		owner := map[int]string{}
		owns := map[string]int{}
		ok := true
		for _, q := range mqs {
			ds := got.get(fmt.Sprintf("probe-%03d-%d", round, q.QueueId))
			if len(ds) != 1 {
				ok = false
			}
			owner[q.QueueId] = ds[0].member
			owns[ds[0].member]++
		}
		for _, m := range members {
			if owns[m] == 0 {
				ok = false
			}
		}
		var parts []string
		for _, q := range mqs {
			parts = append(parts, fmt.Sprintf("%d:%s", q.QueueId, owner[q.QueueId]))
		}
		assignment := strings.Join(parts, " ")
		if ok && assignment == prev {
			t.Logf("group settled after %v (%d probe rounds): %s", time.Since(start).Round(time.Millisecond), round+1, assignment)
			return owner
		}
		if ok {
			prev = assignment
		} else {
			prev = "unsettled " + assignment
		}
	}
}

// Scenario 2: two push consumers in one clustering group share the queues; every message
// is received, by exactly one of them, and both get some.
func TestClustering(t *testing.T) {
	const n = 400
	topic := name(t, "topic")
	mqs := createTopic(t, topic, 8)
	group := name(t, "cg")
	got := newTally()
	members := []string{"c1", "c2"}
	for _, m := range members {
		startConsumer(t, group, instance(t, m), topic, all, got.listener(m))
	}
	p := newProducer(t, producer.WithQueueSelector(producer.NewManualQueueSelector()))
	owner := settle(t, p, mqs, got, members)

	want := map[string]string{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("m-%04d", i)
		want[key] = "clustered " + key
		m := msg(topic, key, want[key])
		m.Queue = mqs[i%len(mqs)]
		sendSync(t, p, m)
	}
	if !got.waitKeys(want) {
		t.Errorf("after %v: %d of %d received", waitTimeout, got.distinct("m-"), n)
	}
	time.Sleep(time.Second)
	got.check(t, "clustering", "m-", want, false)
	per := map[string]int{}
	wrongOwner := 0
	for _, d := range got.snapshot() {
		if !strings.HasPrefix(d.key, "m-") {
			continue
		}
		per[d.member]++
		if owner[d.queue] != d.member {
			wrongOwner++
		}
	}
	for _, m := range members {
		if per[m] == 0 {
			t.Errorf("member %s received none of the %d messages (%v)", m, n, per)
		}
	}
	if wrongOwner > 0 {
		t.Errorf("%d messages were consumed by a member that did not own their queue after the rebalance", wrongOwner)
	}
	t.Logf("clustering: %d messages, per member %v", n, per)
}

// Scenario 3: two broadcasting consumers of one group (different instance names) each get
// every message exactly once.
func TestBroadcasting(t *testing.T) {
	const n = 200
	topic := name(t, "topic")
	createTopic(t, topic, 4)
	group := name(t, "cg")
	tallies := map[string]*tally{"b1": newTally(), "b2": newTally()}
	for m, tl := range tallies {
		startConsumer(t, group, instance(t, m), topic, all, tl.listener(m),
			consumer.WithConsumerModel(consumer.BroadCasting))
	}
	p := newProducer(t)
	want := map[string]string{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("b-%04d", i)
		want[key] = "broadcast " + key
		sendSync(t, p, msg(topic, key, want[key]))
	}
	members := make([]string, 0, len(tallies))
	for m := range tallies {
		members = append(members, m)
	}
	sort.Strings(members)
	for _, m := range members {
		tl := tallies[m]
		if !tl.waitKeys(want) {
			t.Errorf("%s: after %v %d of %d received", m, waitTimeout, tl.distinct(""), n)
		}
	}
	time.Sleep(time.Second)
	for _, m := range members {
		tallies[m].check(t, "broadcasting member "+m, "", want, false)
	}
}
