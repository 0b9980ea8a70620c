package router

import (
	"context"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/router/sessioncache"
)

// startSessionJob runs the session cache's periodic refresh (logicalSessionRefreshMillis) in a
// goroutine the server owns until Close.
func (s *Server) startSessionJob() {
	s.background(func(ctx context.Context) {
		s.sessions.Run(ctx, s.cfg.SessionRefresh, s.sessionIO(), func(r sessioncache.RefreshResult) {
			ev := s.cfg.Logger.Debug()
			if len(r.ShardErrors) > 0 {
				ev = s.cfg.Logger.Warn().Interface("shardErrors", r.ShardErrors)
			}
			ev.Int("refreshed", r.Refreshed).Int("failedToRefresh", r.FailedToRefresh).
				Int("ended", r.Ended).Int("reaped", r.Reaped).Int("cursorsClosed", r.CursorsClosed).
				Int("transactionsAborted", r.TxnsAborted).
				Msg("session refresh")
		})
	})
}

// sessionIO is the router's half of the refresh job: refresh and end on one shard's primary,
// abort the transactions of ended and reaped sessions on their participants.
func (s *Server) sessionIO() sessioncache.IO {
	call := func(name string) sessioncache.ShardFunc {
		return func(ctx context.Context, shard int, ids []sessionid.ID) error {
			ctx, cancel := context.WithTimeout(ctx, s.cfg.KillSessionsPerHostTimeout)
			defer cancel()
			reply, err := s.cluster.Shard(shard).Command(ctx, sessionListCommand(name, ids))
			if err != nil {
				return err
			}
			return reply.Err()
		}
	}
	return sessioncache.IO{
		Refresh:     call("refreshSessions"),
		End:         call("endSessions"),
		KillCursors: s.dropCursors,
		AbortTxns: func(ctx context.Context, txns []sessioncache.OpenTxn) {
			if failed := s.abortTxns(ctx, txns, identity{}); failed > 0 {
				s.cfg.Logger.Warn().Int("participants", failed).Msg("aborting the transactions of ended sessions failed on some participants")
			}
		},
	}
}
