package interop

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// txListener decides by key prefix: commit-* and rollback-* at once, unknown-* only when
// the broker checks back (unknown-commit-* then commits, unknown-rollback-* rolls back).
type txListener struct {
	mu      sync.Mutex
	checked map[string]int
}

func (l *txListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	switch key := m.GetKeys(); {
	case strings.HasPrefix(key, "commit-"):
		return primitive.CommitMessageState
	case strings.HasPrefix(key, "rollback-"):
		return primitive.RollbackMessageState
	default:
		return primitive.UnkonwnState
	}
}

func (l *txListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	key := m.GetKeys()
	l.mu.Lock()
	l.checked[key]++
	l.mu.Unlock()
	if strings.HasPrefix(key, "unknown-commit-") {
		return primitive.CommitMessageState
	}
	return primitive.RollbackMessageState
}

// Transactions (END_TRANSACTION, CHECK_TRANSACTION_STATE): the Go TransactionProducer's
// committed messages arrive once, its rolled-back ones never, and the ones it left unknown
// are decided through the broker's check-back (transactionTimeOut, 6 s, after the half).
func TestTransactions(t *testing.T) {
	const each = 10
	topic := name(t, "topic")
	createTopic(t, topic, 4)
	got := newTally()
	startConsumer(t, name(t, "cg"), instance(t, "c"), topic, all, got.listener("c"))
	l := &txListener{checked: map[string]int{}}
	p, err := rocketmq.NewTransactionProducer(l,
		producer.WithNsResolver(resolver()),
		producer.WithGroupName(name(t, "tpg")),
		producer.WithInstanceName(instance(t, "tp")),
		producer.WithRetry(1),
	)
	if err != nil {
		t.Fatalf("NewTransactionProducer: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("transaction producer Start: %v", err)
	}
	defer func() { _ = p.Shutdown() }()

	want := map[string]string{}
	for _, kind := range []string{"commit", "rollback", "unknown-commit", "unknown-rollback"} {
		for i := 0; i < each; i++ {
			key := fmt.Sprintf("%s-%02d", kind, i)
			res, err := p.SendMessageInTransaction(context.Background(), msg(topic, key, "tx "+key))
			if err != nil {
				t.Fatalf("SendMessageInTransaction %s: %v", key, err)
			}
			if res.Status != primitive.SendOK {
				t.Fatalf("SendMessageInTransaction %s: status %v", key, res.Status)
			}
			if kind == "commit" || kind == "unknown-commit" {
				want[key] = "tx " + key
			}
		}
	}
	if !waitUntil(60*time.Second, func() bool { return got.distinct("commit-")+got.distinct("unknown-commit-") >= len(want) }) {
		t.Logf("not every committed message arrived within 60 s")
	}
	time.Sleep(2 * time.Second) // late duplicates or rolled-back messages
	got.check(t, "committed", "", want, false)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, kind := range []string{"unknown-commit", "unknown-rollback"} {
		for i := 0; i < each; i++ {
			if key := fmt.Sprintf("%s-%02d", kind, i); l.checked[key] == 0 {
				t.Errorf("%s was never checked back", key)
			}
		}
	}
	for key := range l.checked {
		if !strings.HasPrefix(key, "unknown-") {
			t.Errorf("%s was decided at once but checked back", key)
		}
	}
	t.Logf("committed %d of %d, check-backs %d", got.distinct("commit-")+got.distinct("unknown-commit-"), len(want), len(l.checked))
}
