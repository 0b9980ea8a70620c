package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/router/clustercursor"
	"github.com/mongos-lite/mongos-lite/router/sessioncache"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/topology"
)

// Server is one router process: a listener, its connections, and the shared routing state.
type Server struct {
	cfg      Config
	cluster  *topology.Cluster[*shards.Shard] // the shards and the routing metadata
	cursors  *clustercursor.Manager
	clock    *clusterClock
	sessions *sessioncache.Cache
	txns     *txnCounters
	follows  *clockFollowers // whether each shard's clock follows the router's (clockfollow.go)

	// The router's own fail points (test commands only): failCommand, and
	// failGetMoreAfterCursorCheckout, which fails a getMore once it holds its router cursor.
	failCommand failpoint.Point
	failGetMore failpoint.Point

	// connLogSampler is shared by every connection's logger: a storm of bad clients logs a burst
	// per second, then one line in 100, instead of a line each.
	connLogSampler zerolog.Sampler

	// The background jobs (the session refresh, the cursor reaper) run under jobCtx until Close
	// cancels it and waits for them.
	jobCtx  context.Context
	jobStop context.CancelFunc
	jobs    sync.WaitGroup

	reg      registration // config.mongos and the cluster metadata (registration.go)
	started  time.Time
	counters counters // serverStatus's opcounters and network (serverstatus.go)

	// topologyVersion: processId is fixed for the process; the counter moves only when shutdown
	// starts (quiesce), which is when awaiting hellos must be answered.
	processID bson.ObjectID
	shutdown  chan struct{}
	closing   chan struct{} // closed by Close: what blocks in-flight work must stop for

	// In-flight commands; once quiescing, new ones are refused and Shutdown waits for these.
	opMu      sync.RWMutex
	quiescing bool
	ops       sync.WaitGroup
	inFlight  atomic.Int64
	awaiting  atomic.Int64 // hellos of monitors waiting for a topology change: idle, not work
	rejected  atomic.Int64 // connections refused by MaxConns

	ln       net.Listener
	mu       sync.Mutex
	conns    map[*conn]struct{}
	closed   bool
	wg       sync.WaitGroup
	nextConn atomic.Int64
	nextOpID atomic.Int32
}

// New builds a router over already opened shards (at least one).
func New(cfg Config, shardList []*shards.Shard) (*Server, error) {
	if len(shardList) == 0 {
		return nil, errors.New("router: at least one shard is required")
	}
	members := make([]topology.Shard, len(shardList))
	for i, s := range shardList {
		members[i] = s
	}
	if cfg.MaxClockDriftSecs < 0 {
		return nil, errors.New("router: MaxClockDriftSecs must not be negative")
	}
	cfg = cfg.withDefaults()
	cluster := topology.New(shardList)
	txns := &txnCounters{}
	sessions := sessioncache.New(sessioncache.Config{
		MaxSessions:  cfg.MaxSessions,
		LocalTimeout: time.Duration(cfg.LogicalSessionTimeoutMinutes) * time.Minute,
		TxnEnded:     txns.ended,
	})
	jobCtx, jobStop := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		cluster:  cluster,
		clock:    newClusterClock(cfg),
		sessions: sessions,
		txns:     txns,
		follows:  newClockFollowers(len(shardList)),
		jobCtx:   jobCtx,
		jobStop:  jobStop,
		connLogSampler: &zerolog.BurstSampler{Burst: 20, Period: time.Second,
			NextSampler: &zerolog.BasicSampler{N: 100}},
		processID: bson.NewObjectID(),
		started:   time.Now(),
		shutdown:  make(chan struct{}),
		closing:   make(chan struct{}),
		conns:     make(map[*conn]struct{}),
	}
	s.cursors = s.newCursorManager()
	return s, nil
}

// Listen binds the configured address.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.Bind, strconv.Itoa(s.cfg.Port)))
	if err != nil {
		return fmt.Errorf("router: listen: %w", err)
	}
	if ln, err = wrapTLS(ln, s.cfg); err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve accepts connections until Close; each connection gets one goroutine owned by the server,
// and so do the periodic session job and the cursor reaper.
func (s *Server) Serve() error {
	s.startAgreement()
	s.startSessionJob()
	s.startCursorReaper()
	s.startRegistration()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		c := s.newConn(nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return nil
		}
		if s.cfg.MaxConns > 0 && len(s.conns) >= s.cfg.MaxConns {
			s.mu.Unlock()
			s.rejected.Add(1)
			c.log.Warn().Int("maxConns", s.cfg.MaxConns).Msg("connection refused: too many open connections")
			_ = nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown quiesces the router, as mongos does on SIGTERM: hello's topologyVersion changes (so
// monitors answer at once and drivers stop selecting it), new commands get ShutdownInProgress,
// and in-flight commands run to completion or until ctx ends. Close follows it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.startQuiesce()
	done := make(chan struct{})
	go func() { s.ops.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("router: in-flight commands still running at the shutdown deadline: %w", ctx.Err())
	}
}

func (s *Server) startQuiesce() {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if !s.quiescing {
		s.quiescing = true
		close(s.shutdown)
	}
}

// beginOp admits a command unless the router is quiescing; endOp must follow an admitted one.
func (s *Server) beginOp() bool {
	s.opMu.RLock()
	defer s.opMu.RUnlock()
	if s.quiescing {
		return false
	}
	s.ops.Add(1)
	s.inFlight.Add(1)
	return true
}

func (s *Server) endOp() {
	s.inFlight.Add(-1)
	s.ops.Done()
}

// quiesceError answers commands that arrive during shutdown, with the new topologyVersion so a
// driver marks the router Unknown at once.
func (s *Server) quiesceError() error {
	e := mongoerr.New(mongoerr.ShutdownInProgress, "The server is in quiesce mode and will shut down")
	e.Extra = bsoncore.BuildDocument(nil, bsoncore.AppendDocumentElement(nil, "topologyVersion", s.topologyVersion()))
	return e
}

// Close stops accepting, answers awaiting hellos, closes every connection and waits for their
// goroutines. The shards are the caller's to close.
func (s *Server) Close(ctx context.Context) error {
	s.startQuiesce()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.jobStop()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.jobs.Wait()
		s.cursors.Close() // as mongos at shutdown: every cursor and the shard cursors behind it
		close(done)
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// background runs fn in a goroutine the server owns: Close cancels fn's context and waits for
// it.
func (s *Server) background(fn func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		fn(s.jobCtx)
	}()
}

// inShutdown reports whether the router is quiescing or closing.
func (s *Server) inShutdown() bool {
	select {
	case <-s.shutdown:
		return true
	default:
		return false
	}
}
