package interop

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// Scenario 6: a producer with the hash queue selector (sharding key = order id) and an
// orderly consumer (WithConsumerOrder, LOCK_BATCH_MQ): per order, the messages arrive in
// the order they were sent, each once, all from one queue.
func TestOrderly(t *testing.T) {
	const orders, steps = 8, 25
	topic := name(t, "topic")
	createTopic(t, topic, 4)

	var mu sync.Mutex
	seq := map[string][]int{}
	queues := map[string]map[int]bool{}
	got := newTally()
	listen := func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			d := got.add("c", m)
			var step int
			fmt.Sscanf(m.GetProperty("step"), "%d", &step)
			order := m.GetProperty("order")
			mu.Lock()
			seq[order] = append(seq[order], step)
			if queues[order] == nil {
				queues[order] = map[int]bool{}
			}
			queues[order][d.queue] = true
			mu.Unlock()
		}
		return consumer.ConsumeSuccess, nil
	}
	startConsumer(t, name(t, "cg"), instance(t, "c"), topic, all, listen, consumer.WithConsumerOrder(true))
	p := newProducer(t, producer.WithQueueSelector(producer.NewHashQueueSelector()))

	want := map[string]string{}
	sentQueue := map[string]int{}
	// Interleave the orders: step s of every order, then step s+1.
	for s := 0; s < steps; s++ {
		for o := 0; o < orders; o++ {
			order := fmt.Sprintf("order-%d", o)
			key := fmt.Sprintf("%s-step-%02d", order, s)
			want[key] = "orderly " + key
			m := msg(topic, key, want[key])
			m.WithShardingKey(order)
			m.WithProperty("order", order)
			m.WithProperty("step", fmt.Sprint(s))
			res := sendSync(t, p, m)
			if q, ok := sentQueue[order]; ok && q != res.MessageQueue.QueueId {
				t.Fatalf("the hash selector sent %s to queue %d, earlier steps to %d", key, res.MessageQueue.QueueId, q)
			}
			sentQueue[order] = res.MessageQueue.QueueId
		}
	}
	if !got.waitKeys(want) {
		t.Errorf("after %v: %d of %d received", waitTimeout, got.distinct("order-"), len(want))
	}
	time.Sleep(time.Second)
	got.check(t, "orderly", "order-", want, false)

	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(seq))
	for o := range seq {
		names = append(names, o)
	}
	sort.Strings(names)
	used := map[int]bool{}
	for _, o := range names {
		s := seq[o]
		inOrder := len(s) == steps
		for i := range s {
			if s[i] != i {
				inOrder = false
			}
		}
		if !inOrder {
			t.Errorf("%s: steps arrived as %v, want 0..%d in order", o, s, steps-1)
		}
		if len(queues[o]) != 1 {
			t.Errorf("%s: arrived from queues %v, sent to %d", o, queues[o], sentQueue[o])
		}
		used[sentQueue[o]] = true
	}
	t.Logf("orderly: %d orders x %d steps over %d queues", orders, steps, len(used))
}
