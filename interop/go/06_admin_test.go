package interop

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
)

// Scenario 10: the admin API. CreateTopic, FetchAllTopicList, FetchPublishMessageQueues,
// GetAllSubscriptionGroup (a group that has consumed is listed) and DeleteTopic (the topic
// leaves the list and its route goes).
func TestAdmin(t *testing.T) {
	needBroker(t)
	topic := name(t, "topic")
	group := name(t, "cg")
	const queues = 4
	adm := newAdmin(t)
	ctx := context.Background()

	t.Run("CreateTopic", func(t *testing.T) {
		createTopic(t, topic, queues) // CreateTopic, then the route must show the queues
	})

	t.Run("FetchAllTopicList", func(t *testing.T) {
		list, err := adm.FetchAllTopicList(ctx)
		if err != nil {
			t.Fatalf("FetchAllTopicList: %v", err)
		}
		if !contains(list.TopicList, topic) {
			t.Errorf("FetchAllTopicList (%d topics) does not list %s", len(list.TopicList), topic)
		}
		t.Logf("FetchAllTopicList: %d topics", len(list.TopicList))
	})

	t.Run("FetchPublishMessageQueues", func(t *testing.T) {
		mqs, err := adm.FetchPublishMessageQueues(ctx, topic)
		if err != nil {
			t.Fatalf("FetchPublishMessageQueues: %v", err)
		}
		var ids []int
		for _, q := range mqs {
			if q.Topic != topic || q.BrokerName == "" {
				t.Errorf("queue %+v: wrong topic or no broker name", q)
			}
			ids = append(ids, q.QueueId)
		}
		sort.Ints(ids)
		if fmt.Sprint(ids) != fmt.Sprint([]int{0, 1, 2, 3}) {
			t.Errorf("FetchPublishMessageQueues: queue ids %v, want [0 1 2 3]", ids)
		}
		clusters, err := adm.FetchClusterList(topic)
		if err != nil || len(clusters) != 1 || clusters[0] == "" {
			t.Errorf("FetchClusterList: %v, %v (want one cluster)", clusters, err)
		}
	})

	t.Run("GetAllSubscriptionGroup", func(t *testing.T) {
		got := newTally()
		startConsumer(t, group, instance(t, "c"), topic, all, got.listener("c"))
		p := newProducer(t)
		sendSync(t, p, msg(topic, "admin-1", "admin"))
		if !got.waitKeys(map[string]string{"admin-1": "admin"}) {
			t.Fatalf("consumer %s did not receive its message within %v", group, waitTimeout)
		}
		groups, err := adm.GetAllSubscriptionGroup(ctx, brokerAddr, 5*time.Second)
		if err != nil {
			t.Fatalf("GetAllSubscriptionGroup(%s): %v", brokerAddr, err)
		}
		cfg, ok := groups.SubscriptionGroupTable[group]
		if !ok {
			names := make([]string, 0, len(groups.SubscriptionGroupTable))
			for g := range groups.SubscriptionGroupTable {
				names = append(names, g)
			}
			t.Fatalf("GetAllSubscriptionGroup: %s (which consumed) is not in the table (%d groups, e.g. %v)",
				group, len(names), sample(names))
		}
		if cfg.GroupName != group || !cfg.ConsumeEnable {
			t.Errorf("GetAllSubscriptionGroup: %s's config %+v: wrong name or consumeEnable false", group, cfg)
		}
		t.Logf("GetAllSubscriptionGroup: %d groups; %s: %+v; dataVersion %+v",
			len(groups.SubscriptionGroupTable), group, cfg, groups.DataVersion)
		if groups.DataVersion.Timestamp == 0 {
			t.Errorf("GetAllSubscriptionGroup: dataVersion %+v has no timestamp", groups.DataVersion)
		}
	})

	t.Run("DeleteTopic", func(t *testing.T) {
		// As the client's example does: no broker or name server given, the client takes
		// them from the topic's route.
		if err := adm.DeleteTopic(ctx, admin.WithTopicDelete(topic)); err != nil {
			t.Fatalf("DeleteTopic: %v", err)
		}
		list, err := adm.FetchAllTopicList(ctx)
		if err != nil {
			t.Fatalf("FetchAllTopicList after DeleteTopic: %v", err)
		}
		if contains(list.TopicList, topic) {
			t.Errorf("FetchAllTopicList still lists %s after DeleteTopic", topic)
		}
		if mqs, err := publishQueues(t, topic); err == nil {
			t.Errorf("%s still has a route after DeleteTopic: %d queues", topic, len(mqs))
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
