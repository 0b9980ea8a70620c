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
				Msg("session refresh")
		})
	})
}

// sessionIO is the router's half of the refresh job: refresh and end on one shard's primary.
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
	}
}
