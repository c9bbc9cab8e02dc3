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

// Extra: request-reply. A producer's Request / RequestAsync waits for the reply that the
// consumer sends with CreateReplyMessage through another producer (SEND_REPLY_MESSAGE to
// <cluster>_REPLY_TOPIC); the broker pushes it to the requester named by REPLY_TO_CLIENT
// (PUSH_REPLY_MESSAGE_TO_CLIENT). Each request gets its own reply.
func TestRequestReply(t *testing.T) {
	const n = 10
	topic := name(t, "topic")
	createTopic(t, topic, 4)
	replier := newProducer(t)
	var mu sync.Mutex
	var replyErrs []string
	startConsumer(t, name(t, "cg"), instance(t, "c"), topic, all,
		func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			for _, m := range msgs {
				if consumer.GetReplyToClient(m) == "" {
					continue // the requester's warm-up message, not a request
				}
				content := []byte("reply to " + string(m.Body))
				reply, err := consumer.CreateReplyMessage(m, content)
				if err == nil {
					// CreateReplyMessage (this client version) parses the body it is given
					// as properties and leaves the reply's body empty: set it.
					reply.Body = content
					_, err = replier.SendSync(ctx, reply)
				}
				if err != nil {
					mu.Lock()
					replyErrs = append(replyErrs, fmt.Sprintf("%s: %v", m.GetKeys(), err))
					mu.Unlock()
				}
			}
			return consumer.ConsumeSuccess, nil
		})
	// The broker pushes a reply on the connection the requester's heartbeat came on: the
	// requester must have sent one (the client's own rpc example has the replier sleep 1 s
	// for this). A Go client sends its first heartbeat 1 s after Start, to the brokers whose
	// routes it has by then: a warm-up send gives it the route, the wait covers the tick.
	started := time.Now()
	requester := newProducer(t)
	sendSync(t, requester, msg(topic, "warm-up", "warm-up"))
	time.Sleep(time.Until(started.Add(1500 * time.Millisecond)))

	for i := 0; i < n; i++ {
		body := fmt.Sprintf("request %d", i)
		resp, err := requester.Request(context.Background(), 10*time.Second, msg(topic, fmt.Sprintf("req-%02d", i), body))
		if err != nil {
			mu.Lock()
			t.Fatalf("Request %d: %v (replier errors: %v)", i, err, sample(replyErrs))
		}
		if got := string(resp.Body); got != "reply to "+body {
			t.Errorf("Request %d: reply %q, want %q", i, got, "reply to "+body)
		}
	}

	done := make(chan string, 1)
	body := "async request"
	err := requester.RequestAsync(context.Background(), 10*time.Second,
		func(_ context.Context, resp *primitive.Message, err error) {
			if err != nil {
				done <- "error: " + err.Error()
				return
			}
			done <- string(resp.Body)
		}, msg(topic, "req-async", body))
	if err != nil {
		t.Fatalf("RequestAsync: %v", err)
	}
	select {
	case got := <-done:
		if got != "reply to "+body {
			t.Errorf("RequestAsync: reply %q, want %q", got, "reply to "+body)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("RequestAsync: no callback within 15 s")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(replyErrs) > 0 {
		t.Errorf("replier: %d replies failed, e.g. %v", len(replyErrs), sample(replyErrs))
	}
}
