// Package interop runs the official Apache RocketMQ Go client
// (github.com/apache/rocketmq-client-go/v2, unchanged) against Apogee.
//
// The tests need a running name server and broker: interop/go/run.sh starts
// `apogee standalone` (behind a wiretap relay) and sets
//
//	APOGEE_NAMESRV      name server address the clients use (required)
//	APOGEE_BROKER       broker address for the admin calls that take one (CreateTopic,
//	                    GetAllSubscriptionGroup): the address the broker advertises
//	APOGEE_RESTART_CMD  a command that restarts the broker on the same data directory
//	                    and ports (`<cmd> restart`), for TestResumeAfterBrokerRestart
//	APOGEE_GO_LOG_DIR   where the client's log goes (default ./target)
//	INTEROP_WAIT_SECS   how long a test waits for messages to arrive (default 60)
//
// Every test uses its own topics and groups, named go_<test>_<kind>_<run id>.
package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

var (
	namesrvAddr string
	brokerAddr  string
	restartCmd  string
	runID       string
	waitTimeout = 60 * time.Second
	instanceSeq atomic.Int64
)

func TestMain(m *testing.M) {
	namesrvAddr = os.Getenv("APOGEE_NAMESRV")
	if namesrvAddr == "" {
		fmt.Fprintln(os.Stderr, "interop: APOGEE_NAMESRV is not set; run interop/go/run.sh, "+
			"or point APOGEE_NAMESRV (and APOGEE_BROKER) at a running name server and broker")
		os.Exit(2)
	}
	brokerAddr = os.Getenv("APOGEE_BROKER")
	restartCmd = os.Getenv("APOGEE_RESTART_CMD")
	if s := os.Getenv("INTEROP_WAIT_SECS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			waitTimeout = time.Duration(n) * time.Second
		}
	}
	logDir := os.Getenv("APOGEE_GO_LOG_DIR")
	if logDir == "" {
		logDir = "target"
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(2)
	}
	// The client logs through logrus to stderr unless told otherwise: keep it in a file.
	if err := rlog.SetOutputPath(filepath.Join(logDir, "rocketmq-client.log")); err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(2)
	}
	level := os.Getenv("ROCKETMQ_GO_LOG_LEVEL")
	if level == "" {
		level = "warn"
	}
	rlog.SetLogLevel(level)
	runID = strconv.FormatInt(time.Now().UnixMilli()%(36*36*36*36*36*36), 36)
	fmt.Printf("interop: namesrv %s, broker %s, run id %s\n", namesrvAddr, brokerAddr, runID)
	os.Exit(m.Run())
}

var nonName = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// name is a topic or group name of its own for this test and run.
func name(t *testing.T, kind string) string {
	scenario := strings.ToLower(strings.TrimPrefix(t.Name(), "Test"))
	return nonName.ReplaceAllString(fmt.Sprintf("go_%s_%s_%s", scenario, kind, runID), "_")
}

func instance(t *testing.T, kind string) string {
	return fmt.Sprintf("%s_%d", name(t, kind), instanceSeq.Add(1))
}

func resolver() primitive.NsResolver {
	return primitive.NewPassthroughResolver([]string{namesrvAddr})
}

func needBroker(t *testing.T) {
	t.Helper()
	if brokerAddr == "" {
		t.Fatal("APOGEE_BROKER is not set (the broker address for the admin API)")
	}
}

// newAdmin is a fresh admin client (its route cache is its own).
func newAdmin(t *testing.T) admin.Admin {
	t.Helper()
	adm, err := admin.NewAdmin(admin.WithResolver(resolver()))
	if err != nil {
		t.Fatalf("admin.NewAdmin: %v", err)
	}
	t.Cleanup(func() { _ = adm.Close() })
	return adm
}

// publishQueues asks the name server (through a fresh admin client) for the topic's queues.
func publishQueues(t *testing.T, topic string) ([]*primitive.MessageQueue, error) {
	t.Helper()
	adm, err := admin.NewAdmin(admin.WithResolver(resolver()))
	if err != nil {
		t.Fatalf("admin.NewAdmin: %v", err)
	}
	defer adm.Close()
	return adm.FetchPublishMessageQueues(context.Background(), topic)
}

// createTopic creates the topic with admin.CreateTopic on the broker and waits until the
// name server's route has its queues. (CreateTopic returns an error only when the request
// could not be sent: the client ignores the response code, so the route is the check.)
func createTopic(t *testing.T, topic string, queues int) []*primitive.MessageQueue {
	t.Helper()
	needBroker(t)
	adm := newAdmin(t)
	err := adm.CreateTopic(context.Background(),
		admin.WithTopicCreate(topic),
		admin.WithBrokerAddrCreate(brokerAddr),
		admin.WithReadQueueNums(queues),
		admin.WithWriteQueueNums(queues))
	if err != nil {
		t.Fatalf("CreateTopic %s: %v", topic, err)
	}
	var mqs []*primitive.MessageQueue
	var lastErr error
	ok := waitUntil(10*time.Second, func() bool {
		mqs, lastErr = publishQueues(t, topic)
		return lastErr == nil && len(mqs) == queues
	})
	if !ok {
		t.Fatalf("topic %s: route has %d queues after CreateTopic (want %d), last error %v",
			topic, len(mqs), queues, lastErr)
	}
	sort.Slice(mqs, func(i, j int) bool { return mqs[i].QueueId < mqs[j].QueueId })
	return mqs
}

func newProducer(t *testing.T, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	base := []producer.Option{
		producer.WithNsResolver(resolver()),
		producer.WithGroupName(name(t, "pg")),
		producer.WithInstanceName(instance(t, "p")),
		producer.WithRetry(2),
		producer.WithSendMsgTimeout(10 * time.Second),
	}
	p, err := rocketmq.NewProducer(append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("producer Start: %v", err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

type listener func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error)

// startConsumer starts a push consumer (clustering, from the first offset unless opts say
// otherwise) subscribed to one topic. Shut down at the end of the test.
func startConsumer(t *testing.T, group, inst, topic string, sel consumer.MessageSelector, f listener,
	opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	base := []consumer.Option{
		consumer.WithNsResolver(resolver()),
		consumer.WithGroupName(group),
		consumer.WithInstance(inst),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}
	c, err := rocketmq.NewPushConsumer(append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewPushConsumer %s/%s: %v", group, inst, err)
	}
	if err := c.Subscribe(topic, sel, f); err != nil {
		t.Fatalf("Subscribe %s: %v", topic, err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("consumer Start %s/%s: %v", group, inst, err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c
}

var all = consumer.MessageSelector{Type: consumer.TAG, Expression: "*"}

// waitUntil polls cond every 50 ms until it holds or the timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// delivery is one message handed to a listener.
type delivery struct {
	member    string
	key       string
	body      string
	tag       string
	topic     string
	queue     int
	offset    int64
	reconsume int32
	props     map[string]string
	at        time.Time
}

// tally records every delivery, by key.
type tally struct {
	mu    sync.Mutex
	byKey map[string][]delivery
	order []delivery
}

func newTally() *tally { return &tally{byKey: map[string][]delivery{}} }

func (c *tally) add(member string, m *primitive.MessageExt) delivery {
	d := delivery{
		member: member, key: m.GetKeys(), body: string(m.Body), tag: m.GetTags(), topic: m.Topic,
		offset: m.QueueOffset, reconsume: m.ReconsumeTimes, props: m.GetProperties(), at: time.Now(),
	}
	if m.Queue != nil {
		d.queue = m.Queue.QueueId
	}
	c.mu.Lock()
	c.byKey[d.key] = append(c.byKey[d.key], d)
	c.order = append(c.order, d)
	c.mu.Unlock()
	return d
}

// listener that records every message under member and returns ConsumeSuccess.
func (c *tally) listener(member string) listener {
	return func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			c.add(member, m)
		}
		return consumer.ConsumeSuccess, nil
	}
}

// distinct counts the keys with the prefix received at least once.
func (c *tally) distinct(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k := range c.byKey {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func (c *tally) get(key string) []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]delivery(nil), c.byKey[key]...)
}

func (c *tally) snapshot() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]delivery(nil), c.order...)
}

// check compares the deliveries of the expected keys (key -> body) with what arrived: it
// reports missing keys, wrong bodies, unexpected keys with the prefix and, unless
// allowDup, keys delivered more than once. It returns the number of extra deliveries.
func (c *tally) check(t *testing.T, what, prefix string, want map[string]string, allowDup bool) int {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing, dups, unexpected, badBody []string
	extra := 0
	for k, body := range want {
		ds := c.byKey[k]
		if len(ds) == 0 {
			missing = append(missing, k)
			continue
		}
		if len(ds) > 1 {
			dups = append(dups, fmt.Sprintf("%s x%d", k, len(ds)))
			extra += len(ds) - 1
		}
		for _, d := range ds {
			if d.body != body {
				badBody = append(badBody, fmt.Sprintf("%s: %q", k, d.body))
				break
			}
		}
	}
	for k := range c.byKey {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, prefix) {
			unexpected = append(unexpected, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: %d of %d messages never arrived, e.g. %v", what, len(missing), len(want), sample(missing))
	}
	if len(badBody) > 0 {
		t.Errorf("%s: %d messages arrived with another body, e.g. %v", what, len(badBody), sample(badBody))
	}
	if len(unexpected) > 0 {
		t.Errorf("%s: %d messages arrived that were not sent (or should have been filtered), e.g. %v",
			what, len(unexpected), sample(unexpected))
	}
	if len(dups) > 0 {
		if allowDup {
			t.Logf("%s: %d duplicate deliveries (%d keys), e.g. %v", what, extra, len(dups), sample(dups))
		} else {
			t.Errorf("%s: %d duplicate deliveries (%d keys), e.g. %v", what, extra, len(dups), sample(dups))
		}
	}
	return extra
}

func sample(s []string) []string {
	sort.Strings(s)
	if len(s) > 5 {
		return append(s[:5:5], "…")
	}
	return s
}

// waitKeys waits until every key of want has arrived at least once; false on timeout.
func (c *tally) waitKeys(want map[string]string) bool {
	return waitUntil(waitTimeout, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for k := range want {
			if len(c.byKey[k]) == 0 {
				return false
			}
		}
		return true
	})
}

func msg(topic, key, body string) *primitive.Message {
	m := primitive.NewMessage(topic, []byte(body))
	m.WithKeys([]string{key})
	return m
}

func sendSync(t *testing.T, p rocketmq.Producer, ms ...*primitive.Message) *primitive.SendResult {
	t.Helper()
	res, err := p.SendSync(context.Background(), ms...)
	if err != nil {
		t.Fatalf("SendSync to %s: %v", ms[0].Topic, err)
	}
	if res.Status != primitive.SendOK {
		t.Fatalf("SendSync to %s: status %v", ms[0].Topic, res.Status)
	}
	return res
}
