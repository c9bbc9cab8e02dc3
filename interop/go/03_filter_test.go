package interop

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
)

// Scenario 4: a consumer subscribed with "TagA || TagB" gets every TagA and TagB message and
// no TagC one. (The Go client also re-checks tags itself; the wiretap's table of tags in
// pull responses shows whether the broker filtered: run.sh prints it.)
func TestTagFilter(t *testing.T) {
	const perTag = 50
	topic := name(t, "topic")
	createTopic(t, topic, 4)
	group := name(t, "cg")
	got := newTally()
	startConsumer(t, group, instance(t, "c"), topic,
		consumer.MessageSelector{Type: consumer.TAG, Expression: "TagA || TagB"}, got.listener("c"))
	p := newProducer(t)
	want := map[string]string{}
	for i := 0; i < perTag; i++ {
		for _, tag := range []string{"TagA", "TagB", "TagC"} {
			key := fmt.Sprintf("%s-%03d", tag, i)
			m := msg(topic, key, "tagged "+key)
			m.WithTag(tag)
			if tag != "TagC" {
				want[key] = "tagged " + key
			}
			sendSync(t, p, m)
		}
	}
	if !got.waitKeys(want) {
		t.Errorf("after %v: %d of %d TagA/TagB messages received", waitTimeout, got.distinct("Tag"), len(want))
	}
	time.Sleep(time.Second) // a TagC sent last would be here by now
	got.check(t, "tags", "Tag", want, false)
	for _, d := range got.snapshot() {
		if d.tag != "TagA" && d.tag != "TagB" {
			t.Errorf("message %s with tag %q delivered to a TagA || TagB subscription", d.key, d.tag)
		}
	}
	// The client drops other tags itself, so the listener alone cannot tell whether the
	// broker filtered: the wiretap's record of the pull responses can.
	pulled, err := pulledTags(group, topic)
	switch {
	case err != nil:
		t.Errorf("wiretap record of pulled tags: %v", err)
	case pulled == nil:
		t.Log("APOGEE_WIRETAP_PULLED not set: broker-side tag filtering not checked")
	case pulled["TagC"] > 0:
		t.Errorf("the broker returned %d TagC messages to the TagA || TagB subscription's pulls (the client dropped them): %v",
			pulled["TagC"], pulled)
	case pulled["TagA"] < perTag || pulled["TagB"] < perTag:
		t.Errorf("pull responses seen by the wiretap: %v, want %d TagA and TagB", pulled, perTag)
	default:
		t.Logf("broker-side filter: pull responses carried %v", pulled)
	}
}

// pulledTags counts the tags of the messages the broker returned to the group's pulls on
// the topic, from the wiretap's record (APOGEE_WIRETAP_PULLED); nil if there is none.
func pulledTags(group, topic string) (map[string]int, error) {
	path := os.Getenv("APOGEE_WIRETAP_PULLED")
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 3 && f[0] == group && f[1] == topic {
			counts[f[2]]++
		}
	}
	return counts, nil
}

// Scenario 5: an SQL92 subscription on a user property gets exactly the matching messages
// (the client cannot filter SQL92 itself: this is the broker's filter).
func TestSQL92Filter(t *testing.T) {
	topic := name(t, "topic")
	createTopic(t, topic, 4)
	got := newTally()
	startConsumer(t, name(t, "cg"), instance(t, "c"), topic,
		consumer.MessageSelector{Type: consumer.SQL92, Expression: "a BETWEEN 3 AND 5 AND (region IS NULL OR region <> 'eu')"},
		got.listener("c"))
	p := newProducer(t)
	want := map[string]string{}
	for round := 0; round < 5; round++ {
		for a := 0; a < 10; a++ {
			key := fmt.Sprintf("sql-%d-%d", a, round)
			m := msg(topic, key, "sql "+key)
			m.WithProperty("a", strconv.Itoa(a))
			if round == 4 {
				m.WithProperty("region", "eu") // excluded by the second clause
			} else if round == 3 {
				m.WithProperty("region", "us")
			}
			if a >= 3 && a <= 5 && round != 4 {
				want[key] = "sql " + key
			}
			sendSync(t, p, m)
		}
		// A message without the property: `a BETWEEN ...` is unknown, not true.
		key := fmt.Sprintf("sql-none-%d", round)
		sendSync(t, p, msg(topic, key, "sql "+key))
	}
	if !got.waitKeys(want) {
		t.Errorf("after %v: %d of %d matching messages received", waitTimeout, got.distinct("sql-"), len(want))
	}
	time.Sleep(time.Second)
	got.check(t, "sql92", "sql-", want, false)
}
