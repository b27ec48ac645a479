// segmentflow: added to pstest by tools/pstest-patch.sh (not upstream code).

package pstest

// ForgetSettled drops from the server's record of published messages
// (Messages, Message) every message that no subscription still holds: acked
// by all its subscriptions, expired from them, or published to a topic that
// had none. It returns how many it dropped. Subscriptions keep their own copy
// of each unacked message, so delivery and redelivery are unaffected; only
// the history goes, which ClearMessages cannot do without also dropping the
// unacked messages. A Seek into the past can no longer redeliver what was
// forgotten (the stack never seeks).
func (s *Server) ForgetSettled() int {
	g := &s.GServer
	g.mu.Lock()
	defer g.mu.Unlock()

	held := make(map[string]struct{})
	for _, sub := range g.subs {
		for id := range sub.msgs {
			held[id] = struct{}{}
		}
	}
	// A fresh slice, so the dropped messages' backing array is freed too.
	kept := make([]*Message, 0, len(held))
	dropped := 0
	for _, m := range g.msgs {
		if _, ok := held[m.ID]; ok {
			kept = append(kept, m)
			continue
		}
		delete(g.msgsByID, m.ID)
		dropped++
	}
	g.msgs = kept
	return dropped
}
