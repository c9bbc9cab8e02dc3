package interop

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// Scenario 1: sync, async, oneway and batch sends; one clustering push consumer gets every
// message exactly once, with its key, body, tag and user property.
func TestSendModes(t *testing.T) {
	const perMode, batches, batchSize = 100, 10, 10
	topic := name(t, "topic")
	createTopic(t, topic, 4)

	got := newTally()
	startConsumer(t, name(t, "cg"), instance(t, "c"), topic, all, got.listener("c"))
	p := newProducer(t)

	want := map[string]string{}
	mk := func(mode string, i int) *primitive.Message {
		key := fmt.Sprintf("%s-%04d", mode, i)
		body := "body of " + key
		want[key] = body
		m := msg(topic, key, body)
		m.WithTag(mode)
		m.WithProperty("mode", mode)
		return m
	}

	// sync: every result SendOK, (queue, offset) never given twice, and the offset message
	// id names the address the broker advertises.
	seen := map[string]string{}
	for i := 0; i < perMode; i++ {
		m := mk("sync", i)
		res := sendSync(t, p, m)
		if res.MsgID == "" || res.MessageQueue == nil || res.QueueOffset < 0 {
			t.Fatalf("sync send %d: incomplete result %+v", i, res)
		}
		slot := fmt.Sprintf("%d@%d", res.MessageQueue.QueueId, res.QueueOffset)
		if prev, ok := seen[slot]; ok {
			t.Errorf("sync sends %s and %s both got queue@offset %s", prev, m.GetKeys(), slot)
		}
		seen[slot] = m.GetKeys()
		if i == 0 && brokerAddr != "" {
			if host, err := offsetMsgIDHost(res.OffsetMsgID); err != nil {
				t.Errorf("offset message id %q: %v", res.OffsetMsgID, err)
			} else if host != brokerAddr {
				t.Errorf("offset message id %q names %s, the broker advertises %s", res.OffsetMsgID, host, brokerAddr)
			}
		}
	}

	// async: every callback, each once, without error.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var asyncErrs []string
	calls := map[string]int{}
	for i := 0; i < perMode; i++ {
		m := mk("async", i)
		key := m.GetKeys()
		wg.Add(1)
		err := p.SendAsync(context.Background(), func(_ context.Context, res *primitive.SendResult, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			calls[key]++
			if err != nil {
				asyncErrs = append(asyncErrs, fmt.Sprintf("%s: %v", key, err))
			} else if res.Status != primitive.SendOK {
				asyncErrs = append(asyncErrs, fmt.Sprintf("%s: status %v", key, res.Status))
			}
		}, m)
		if err != nil {
			wg.Done()
			t.Fatalf("SendAsync %s: %v", key, err)
		}
	}
	if !waitGroup(&wg, 30*time.Second) {
		mu.Lock()
		t.Fatalf("async sends: %d of %d callbacks after 30 s", len(calls), perMode)
	}
	for k, n := range calls {
		if n != 1 {
			t.Errorf("async send %s: callback called %d times", k, n)
		}
	}
	if len(asyncErrs) > 0 {
		t.Fatalf("async sends: %d failed, e.g. %v", len(asyncErrs), sample(asyncErrs))
	}

	// oneway: no answer; all must arrive all the same.
	for i := 0; i < perMode; i++ {
		if err := p.SendOneWay(context.Background(), mk("oneway", i)); err != nil {
			t.Fatalf("SendOneWay %d: %v", i, err)
		}
	}

	// batch: SendSync with several messages (SEND_BATCH_MESSAGE).
	for b := 0; b < batches; b++ {
		ms := make([]*primitive.Message, batchSize)
		for i := range ms {
			ms[i] = mk("batch", b*batchSize+i)
		}
		res := sendSync(t, p, ms...)
		if res.MessageQueue == nil || res.QueueOffset < 0 {
			t.Fatalf("batch %d: incomplete result %+v", b, res)
		}
	}

	total := len(want)
	if !got.waitKeys(want) {
		t.Errorf("after %v: %d of %d distinct messages received", waitTimeout, got.distinct(""), total)
	}
	time.Sleep(time.Second) // late duplicates
	got.check(t, "send modes", "", want, false)
	for _, d := range got.snapshot() {
		mode := strings.SplitN(d.key, "-", 2)[0]
		if d.tag != mode || d.props["mode"] != mode || d.topic != topic {
			t.Errorf("message %s: topic %q, tag %q, property mode %q (want %s, %s, %s)",
				d.key, d.topic, d.tag, d.props["mode"], topic, mode, mode)
			break
		}
	}
	t.Logf("send modes: %d sent (sync/async/oneway %d each, %d batches of %d), %d deliveries",
		total, perMode, batches, batchSize, len(got.snapshot()))
}

// offsetMsgIDHost decodes the store host (ip:port) of an offset message id.
func offsetMsgIDHost(id string) (string, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 16 {
		return "", fmt.Errorf("not 16 hex-encoded bytes")
	}
	ip := net.IP(raw[:4])
	port := binary.BigEndian.Uint32(raw[4:8])
	return ip.String() + ":" + strconv.Itoa(int(port)), nil
}

func waitGroup(wg *sync.WaitGroup, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Sending to a topic nobody created: the client takes TBW102's route and the broker creates
// the topic (autoCreateTopicEnable, default on) with the producer's default 4 queues.
func TestAutoCreateTopic(t *testing.T) {
	topic := name(t, "topic")
	if mqs, err := publishQueues(t, topic); err == nil {
		t.Fatalf("topic %s has a route before anything was sent: %v", topic, mqs)
	}
	p := newProducer(t)
	want := map[string]string{}
	for i := 0; i < 20; i++ {
		key := fmt.Sprintf("auto-%02d", i)
		want[key] = "body " + key
		sendSync(t, p, msg(topic, key, want[key]))
	}
	mqs, err := publishQueues(t, topic)
	if err != nil {
		t.Fatalf("auto-created topic %s: no route: %v", topic, err)
	}
	if len(mqs) != 4 {
		t.Errorf("auto-created topic %s: %d write queues, want 4 (the Go producer's defaultTopicQueueNums)", topic, len(mqs))
	}
	got := newTally()
	startConsumer(t, name(t, "cg"), instance(t, "c"), topic, all, got.listener("c"))
	if !got.waitKeys(want) {
		t.Errorf("after %v: %d of %d received", waitTimeout, got.distinct(""), len(want))
	}
	got.check(t, "auto-created topic", "", want, false)
}
