package emulators

import (
	"context"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// TestForgetSettled checks the pstest patch: acked messages and messages of
// a topic without subscriptions leave the history, while one that a
// subscription still holds stays there and is still delivered.
func TestForgetSettled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps, err := StartPubSub("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, ok := ps.ForgetSettled(); !ok {
		t.Skip("stock pstest (GOWORK=off or go.work without tools/pstest-patch.sh): nothing to test")
	}
	c, err := ps.Client(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const (
		topic   = "projects/p/topics/t"
		lonely  = "projects/p/topics/nobody-listens"
		subA    = "projects/p/subscriptions/a"
		subB    = "projects/p/subscriptions/b"
		perSubs = 4
	)
	for _, tp := range []string{topic, lonely} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: tp}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{subA, subB} {
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: s, Topic: topic, AckDeadlineSeconds: 10}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for range perSubs {
		ids = append(ids, ps.Server.Publish(topic, []byte("x"), nil))
	}
	ps.Server.Publish(lonely, []byte("y"), nil)
	ps.Server.Publish(lonely, []byte("y"), nil)

	// a acks everything; b acks all but the last message.
	pull := func(sub string) []*pubsubpb.ReceivedMessage {
		t.Helper()
		var got []*pubsubpb.ReceivedMessage
		for len(got) < perSubs && ctx.Err() == nil {
			resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 100, ReturnImmediately: true})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, resp.GetReceivedMessages()...)
		}
		return got
	}
	ack := func(sub string, rms []*pubsubpb.ReceivedMessage) {
		t.Helper()
		var acks []string
		for _, rm := range rms {
			acks = append(acks, rm.GetAckId())
		}
		if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: acks}); err != nil {
			t.Fatal(err)
		}
	}
	ack(subA, pull(subA))
	keep := ids[perSubs-1]
	var bAck []*pubsubpb.ReceivedMessage
	var held *pubsubpb.ReceivedMessage
	for _, rm := range pull(subB) {
		if rm.GetMessage().GetMessageId() == keep {
			held = rm
		} else {
			bAck = append(bAck, rm)
		}
	}
	ack(subB, bAck)

	if n := len(ps.Server.Messages()); n != perSubs+2 {
		t.Fatalf("before: %d messages in the history, want %d", n, perSubs+2)
	}
	n, _ := ps.ForgetSettled()
	if want := perSubs - 1 + 2; n != want {
		t.Errorf("ForgetSettled dropped %d, want %d (3 acked by both, 2 without subscriptions)", n, want)
	}
	var left []string
	for _, m := range ps.Server.Messages() {
		left = append(left, m.ID)
	}
	if !slices.Equal(left, []string{keep}) {
		t.Errorf("history after ForgetSettled: %v, want only the message b holds (%s)", left, keep)
	}
	if ps.Server.Message(ids[0]) != nil {
		t.Errorf("Message(%s) still found after it was forgotten", ids[0])
	}
	if n, _ := ps.ForgetSettled(); n != 0 {
		t.Errorf("second ForgetSettled dropped %d, want 0", n)
	}

	// The held message is still delivered: nack it so it comes back at once.
	if err := c.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: subB, AckIds: []string{held.GetAckId()}, AckDeadlineSeconds: 0}); err != nil {
		t.Fatal(err)
	}
	var again *pubsubpb.ReceivedMessage
	for again == nil && ctx.Err() == nil {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: subB, MaxMessages: 10, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		if rms := resp.GetReceivedMessages(); len(rms) > 0 {
			again = rms[0]
		}
	}
	if again.GetMessage().GetMessageId() != keep || string(again.GetMessage().GetData()) != "x" {
		t.Fatalf("redelivered %v, want %s with its data", again.GetMessage(), keep)
	}
	ack(subB, []*pubsubpb.ReceivedMessage{again})
	if n, _ := ps.ForgetSettled(); n != 1 || len(ps.Server.Messages()) != 0 {
		t.Errorf("after the last ack: dropped %d, %d left; want 1 dropped, none left", n, len(ps.Server.Messages()))
	}
}
