// Package shards is how the router talks to shard replica sets: one driver topology per shard
// (discovery, monitoring and SDAM), server selection by read preference, and round trips of
// whole wire messages, over the router's own pooled connections (package pool), whose replies
// are checked to answer the request just written. It is the only package that uses the
// driver's x/mongo/driver/topology.
package shards

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/address"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/description"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/mnet"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards/pool"
)

// AppName is the application name shards see in the handshake (and in their logs and currentOp).
const AppName = "mongos-lite"

// DefaultSocketTimeout bounds a round trip whose context has no deadline. It is generous because
// a forwarded command may legitimately run long (an index build, a big aggregation); callers that
// know better (maxTimeMS, per-host fan-out limits) pass a context with their own deadline.
const DefaultSocketTimeout = 60 * time.Second

// Config describes one shard replica set. Zero durations and sizes mean the driver's defaults
// (maxPoolSize 100, minPoolSize 0, maxConnecting 2, no idle limit, connect and server selection
// timeouts 30 s, heartbeat 10 s).
type Config struct {
	Name    string   // shard name, as listShards shows it
	SetName string   // replica set name; members reporting another set are dropped
	Hosts   []string // seed list, host:port

	MaxPoolSize   uint64
	MinPoolSize   uint64
	MaxConnecting uint64

	MaxIdleTime            time.Duration
	ConnectTimeout         time.Duration
	ServerSelectionTimeout time.Duration
	HeartbeatInterval      time.Duration
	// SocketTimeout is the deadline of a round trip whose context has none; 0 means
	// DefaultSocketTimeout.
	SocketTimeout time.Duration
	Logger        zerolog.Logger

	// Auth, when set, authenticates every pooled connection (see Credential); nil connects
	// unauthenticated, as to shards without --auth.
	Auth *Credential
	// TLS, when set, is the client side of TLS to every member (RootCAs for the members'
	// certificates, Certificates for a client certificate); nil connects in plain TCP.
	TLS *tls.Config

	// onServerChange, when set (by tests), sees every server description change.
	onServerChange func(*event.ServerDescriptionChangedEvent)
}

// maintainInterval is how often idle connections are pruned and pools filled to MinPoolSize
// (the driver's own interval), besides when a member becomes a primary or secondary.
const maintainInterval = 10 * time.Second

// Shard is a connected shard replica set. It is safe for concurrent use.
type Shard struct {
	name, setName string
	topo          *topology.Topology
	selTimeout    time.Duration
	sockTimeout   time.Duration

	// The router's own connections, one pool per member (package pool); the driver's
	// topology only discovers, monitors and selects.
	poolCfg pool.Config // Addr is set per member
	minPool int
	pools   atomic.Pointer[map[string]*pool.Pool] // copied on write
	poolsMu sync.Mutex                            // serializes writers; guards closed
	closed  bool

	wake      chan struct{} // a member became data-bearing: fill its pool now
	stopMaint context.CancelFunc
	maintDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open starts discovering and monitoring the shard's members; it does not wait for them, so a
// shard that is down at start-up is reported by the first round trip instead.
func Open(cfg Config) (*Shard, error) {
	if err := checkName(cfg.Name); err != nil {
		return nil, fmt.Errorf("shard name %v", err)
	}
	if err := checkName(cfg.SetName); err != nil {
		return nil, fmt.Errorf("shard %s: replica set name %v", cfg.Name, err)
	}
	if len(cfg.Hosts) == 0 {
		return nil, fmt.Errorf("shard %s: no hosts", cfg.Name)
	}
	for _, h := range cfg.Hosts {
		if err := checkHost(h); err != nil {
			return nil, fmt.Errorf("shard %s: host %q: %v", cfg.Name, h, err)
		}
	}
	if cfg.MinPoolSize > 0 && cfg.MaxPoolSize > 0 && cfg.MinPoolSize > cfg.MaxPoolSize {
		return nil, fmt.Errorf("shard %s: minPoolSize %d is above maxPoolSize %d", cfg.Name, cfg.MinPoolSize, cfg.MaxPoolSize)
	}
	handshaker, err := cfg.handshaker()
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", cfg.Name, err)
	}
	log := cfg.Logger.With().Str("shard", cfg.Name).Str("set", cfg.SetName).Logger()
	s := &Shard{name: cfg.Name, setName: cfg.SetName, sockTimeout: cfg.SocketTimeout,
		minPool: int(cfg.MinPoolSize), wake: make(chan struct{}, 1),
		poolCfg: pool.Config{TLS: cfg.TLS, ConnectTimeout: cfg.ConnectTimeout, MaxSize: int(cfg.MaxPoolSize),
			MaxConnecting: int(cfg.MaxConnecting), MaxIdleTime: cfg.MaxIdleTime, Handshaker: handshaker}}
	if s.sockTimeout <= 0 {
		s.sockTimeout = DefaultSocketTimeout
	}
	s.pools.Store(&map[string]*pool.Pool{})
	opts := options.Client().
		SetHosts(cfg.Hosts).
		SetReplicaSet(cfg.SetName).
		SetAppName(AppName).
		SetServerMonitor(&event.ServerMonitor{
			ServerDescriptionChanged: func(e *event.ServerDescriptionChangedEvent) {
				if e.PreviousDescription.Kind != e.NewDescription.Kind {
					log.Info().Str("host", e.Address.String()).Str("from", e.PreviousDescription.Kind).
						Str("to", e.NewDescription.Kind).Msg("shard member state changed")
					s.wakeMaintainer()
				}
				if cfg.onServerChange != nil {
					cfg.onServerChange(e)
				}
			},
			ServerClosed: func(e *event.ServerClosedEvent) { s.dropPool(e.Address.String()) },
		}).
		// SDAM clears the driver's pool of a member that failed or changed state (the driver's
		// pool itself is never used): the router's pool follows.
		SetPoolMonitor(&event.PoolMonitor{Event: func(e *event.PoolEvent) {
			if e.Type == event.ConnectionPoolCleared {
				if p := s.existingPool(e.Address); p != nil {
					p.Clear()
				}
			}
		}})
	if cfg.ConnectTimeout > 0 {
		opts.SetConnectTimeout(cfg.ConnectTimeout)
	}
	if cfg.ServerSelectionTimeout > 0 {
		opts.SetServerSelectionTimeout(cfg.ServerSelectionTimeout)
	}
	if cfg.HeartbeatInterval > 0 {
		opts.SetHeartbeatInterval(cfg.HeartbeatInterval)
	}
	if cfg.TLS != nil {
		// The monitors' connections; the driver clones it and sets ServerName per member.
		opts.SetTLSConfig(cfg.TLS)
	}
	tcfg, err := topology.NewConfig(opts, nil)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", cfg.Name, err)
	}
	topo, err := topology.New(tcfg)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", cfg.Name, err)
	}
	if err := topo.Connect(); err != nil {
		return nil, fmt.Errorf("shard %s: %w", cfg.Name, err)
	}
	s.topo = topo
	s.selTimeout = topo.GetServerSelectionTimeout()
	if s.minPool > 0 || cfg.MaxIdleTime > 0 {
		var ctx context.Context
		ctx, s.stopMaint = context.WithCancel(context.Background())
		s.maintDone = make(chan struct{})
		go s.maintain(ctx)
	}
	log.Info().Strs("hosts", cfg.Hosts).Bool("tls", cfg.TLS != nil).Bool("auth", cfg.Auth != nil).Msg("shard opened")
	return s, nil
}

// Name is the shard's name.
func (s *Shard) Name() string { return s.name }

// Request is one command for a member: its body and document sequences, which this package
// frames as an OP_MSG. They are only read, never modified, so one Request may go to many members
// at once.
type Request struct {
	Body       bsoncore.Document
	Sequences  []wire.Sequence
	MoreToCome bool // w:0: the member sends no reply
}

// RoundTrip sends req to a member chosen by rp and returns the reply frame (decompressed if the
// member compressed it) and the member's address. The reply is read into dst's storage when it
// is large enough (nil allocates). A moreToCome request gets no reply: (nil, host, nil). Errors
// are *HostError (see ErrorCode) or, for a request without a body, *mongoerr.Error.
func (s *Shard) RoundTrip(ctx context.Context, rp ReadPref, req Request, dst []byte) (reply []byte, host string, err error) {
	if err := checkRequest(req); err != nil {
		return nil, "", err
	}
	ctx, release := s.withDeadline(ctx)
	defer release()
	if host, err = s.selectHost(ctx, rp); err != nil {
		return nil, "", err
	}
	reply, err = s.exchange(ctx, host, req, dst)
	return reply, host, err
}

// RoundTripHost is RoundTrip to one exact member (the owner of a cursor, or every member in a
// kill fan-out), whatever its current state. A host that is not a known member of the set is a
// HostNotFound error.
func (s *Shard) RoundTripHost(ctx context.Context, host string, req Request, dst []byte) ([]byte, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	host, known := s.member(host)
	if !known {
		return nil, &HostError{Shard: s.name, Set: s.setName, Host: host, Code: mongoerr.HostNotFound,
			What: "finding", Err: errors.New("not a known member of the replica set")}
	}
	ctx, release := s.withDeadline(ctx)
	defer release()
	return s.exchange(ctx, host, req, dst)
}

// member returns host as the topology spells it and whether it is a known member.
func (s *Shard) member(host string) (string, bool) {
	canon := address.Address(host).Canonicalize()
	for _, srv := range s.topo.Description().Servers {
		if srv.Addr == canon {
			return canon.String(), true
		}
	}
	return host, false
}

// withDeadline gives ctx the default deadline when it has none: every network call is bounded.
func (s *Shard) withDeadline(ctx context.Context) (context.Context, func()) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	ctx, cancel := context.WithTimeout(ctx, s.sockTimeout)
	return ctx, cancel
}

// expired is an already-cancelled context. Topology.SelectServer's first pass over the current
// description does not look at its context, so with expired it picks a member without waiting
// and without the cost of a timer; only when none matches now does selection wait.
var expired = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// selectHost picks the member rp allows. The primary, the common case, is read off the current
// description without the driver's selection machinery (which allocates).
func (s *Shard) selectHost(ctx context.Context, rp ReadPref) (string, error) {
	if rp.Mode == ModePrimary {
		for _, srv := range s.topo.Description().Servers {
			if srv.Kind == description.ServerKindRSPrimary {
				return srv.Addr.String(), nil
			}
		}
	}
	srv, err := s.selectServer(ctx, rp)
	if err != nil {
		return "", err
	}
	return srv.Description().Addr.String(), nil
}

// selectServer waits at most the server selection timeout for a member that rp allows.
func (s *Shard) selectServer(ctx context.Context, rp ReadPref) (*topology.SelectedServer, error) {
	sel := selectorFor(rp)
	if srv, err := s.topo.SelectServer(expired, sel); err == nil {
		return srv.(*topology.SelectedServer), nil // Topology.SelectServer only returns those
	}
	selCtx := ctx
	if d, _ := ctx.Deadline(); time.Until(d) > s.selTimeout {
		var cancel context.CancelFunc
		selCtx, cancel = context.WithTimeout(ctx, s.selTimeout)
		defer cancel()
	}
	srv, err := s.topo.SelectServer(selCtx, sel)
	if err != nil {
		code := classify(err, mongoerr.FailedToSatisfyReadPreference)
		if code == mongoerr.NetworkTimeout {
			code = mongoerr.FailedToSatisfyReadPreference // selection ran out of time: nothing matched
		}
		if code == mongoerr.FailedToSatisfyReadPreference {
			return nil, &HostError{Shard: s.name, Set: s.setName, Code: code, What: rp.String()}
		}
		return nil, &HostError{Shard: s.name, Set: s.setName, Code: code, What: "selecting a member of", Err: err}
	}
	return srv.(*topology.SelectedServer), nil
}

// exchange writes msg on a pooled connection to host and reads the reply that answers it. A
// connection goes back to the pool only after a complete, matching, final reply; on any other
// outcome it is closed, so no stray reply can reach a later caller.
func (s *Shard) exchange(ctx context.Context, host string, req Request, dst []byte) ([]byte, error) {
	p := s.poolFor(host)
	if p == nil {
		return nil, s.newHostError(host, "connecting to", pool.ErrClosed)
	}
	conn, err := p.Get(ctx)
	if err != nil {
		s.reportIOError(host, p.Describer(), err)
		return nil, s.newHostError(host, "connecting to", err)
	}
	reqID := wiremessage.NextRequestID()
	msg := pool.Msg{RequestID: reqID, Body: req.Body, Sequences: req.Sequences}
	if req.MoreToCome {
		// w:0: no reply comes, and the connection is reused, as mongos reuses it. A member that
		// answered anyway would be caught by the next round trip's responseTo check.
		msg.Flags = wire.MoreToCome
		if err := conn.Send(ctx, msg); err != nil {
			p.Discard(conn)
			s.reportIOError(host, conn, err)
			return nil, s.newHostError(host, "writing to", err)
		}
		p.Put(conn)
		return nil, nil
	}
	reply, err := conn.RoundTrip(ctx, msg, dst)
	if err != nil {
		p.Discard(conn)
		s.reportIOError(host, conn, err)
		return nil, s.newHostError(host, "talking to", err)
	}
	reply, stateErr, final, err := s.checkReply(host, reply, reqID)
	if err != nil || !final {
		p.Discard(conn) // !final: an exhaust stream, more replies would follow on this connection
		return reply, err
	}
	p.Put(conn)
	if stateErr != nil {
		// A state change (not primary, shutting down, ...) marks the member unknown and asks
		// for an immediate heartbeat, so the next selection is honest.
		if srv := s.server(host); srv != nil {
			srv.ProcessError(stateErr, conn)
		}
	}
	return reply, nil
}

// reportIOError tells SDAM about a failed dial or I/O on host: a network error marks the member
// unknown and clears its pools; timeouts and cancellations change nothing.
func (s *Shard) reportIOError(host string, d mnet.Describer, err error) {
	if errors.Is(err, pool.ErrClosed) {
		return
	}
	if srv := s.server(host); srv != nil {
		srv.ProcessError(topology.ConnectionError{ConnectionID: d.ID(), Wrapped: err}, d)
	}
}

// server is the driver's server for host, nil when it is no longer a member.
func (s *Shard) server(host string) *topology.SelectedServer {
	srv, err := s.topo.FindServer(description.Server{Addr: address.Address(host)})
	if err != nil {
		return nil
	}
	return srv
}

// poolFor returns host's pool, making it on first use; nil once the shard is closed.
func (s *Shard) poolFor(host string) *pool.Pool {
	if p := s.existingPool(host); p != nil {
		return p
	}
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	if s.closed {
		return nil
	}
	old := *s.pools.Load()
	if p := old[host]; p != nil {
		return p
	}
	cfg := s.poolCfg
	cfg.Addr = host
	p := pool.New(cfg)
	next := make(map[string]*pool.Pool, len(old)+1)
	maps.Copy(next, old)
	next[host] = p
	s.pools.Store(&next)
	return p
}

func (s *Shard) existingPool(host string) *pool.Pool { return (*s.pools.Load())[host] }

// dropPool closes the pool of a member that left the set.
func (s *Shard) dropPool(host string) {
	s.poolsMu.Lock()
	old := *s.pools.Load()
	p := old[host]
	if p != nil {
		next := maps.Clone(old)
		delete(next, host)
		s.pools.Store(&next)
	}
	s.poolsMu.Unlock()
	if p != nil {
		p.Close()
	}
}

func (s *Shard) wakeMaintainer() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maintain prunes idle connections and fills the data-bearing members' pools to MinPoolSize,
// until ctx ends (Close).
func (s *Shard) maintain(ctx context.Context) {
	defer close(s.maintDone)
	tick := time.NewTicker(maintainInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.wake:
		}
		now := time.Now()
		for _, srv := range s.topo.Description().Servers {
			p := s.poolFor(srv.Addr.String())
			if p == nil {
				return
			}
			p.Prune(now)
			if s.minPool > 0 && dataBearing(srv.Kind) {
				// A failure is SDAM's to see (the monitor reaches the same member).
				_ = p.Fill(ctx, s.minPool)
			}
		}
	}
}

// PoolStats is the state of every member's pool, sorted by address.
func (s *Shard) PoolStats() []pool.Stats {
	pools := *s.pools.Load()
	out := make([]pool.Stats, 0, len(pools))
	for _, p := range pools {
		out = append(out, p.Stats())
	}
	slices.SortFunc(out, func(a, b pool.Stats) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}

// checkRequest accepts a whole OP_MSG frame: the router hands over frames it has parsed.
// checkRequest refuses a request without a body: a caller's mistake, not the member's.
func checkRequest(req Request) error {
	if len(req.Body) < 5 {
		return mongoerr.New(mongoerr.InternalError, "shards: request without a command body (%d bytes)", len(req.Body))
	}
	return nil
}

// checkReply verifies that reply answers request reqID and is a well-formed OP_MSG
// (decompressing OP_COMPRESSED). It returns the frame, the command error it carries for SDAM
// (see stateError), and whether it is final (false when the member set moreToCome: exhaust).
func (s *Shard) checkReply(host string, reply []byte, reqID int32) (frame []byte, stateErr error, final bool, err error) {
	h, err := wire.ParseHeader(reply)
	if err != nil {
		return nil, nil, false, s.protocolError(host, "%v", err)
	}
	if h.ResponseTo != reqID {
		return nil, nil, false, s.protocolError(host, "reply has responseTo %d, the request was %d", h.ResponseTo, reqID)
	}
	if h.OpCode == wire.OpCompressed {
		if reply, _, err = wire.Decompress(reply); err != nil {
			return nil, nil, false, s.protocolError(host, "%v", err)
		}
	}
	m, err := wire.ParseMsg(reply)
	if err != nil {
		return nil, nil, false, s.protocolError(host, "%v", err)
	}
	return reply, stateError(m.Body), m.Flags&wire.MoreToCome == 0, nil
}

// stateError returns the driver's view of a command error in a reply body for SDAM, or nil for a
// plain success. The common case (ok: 1 and no writeConcernError) is decided in one scan
// without allocating.
func stateError(body bsoncore.Document) error {
	ok, wce := false, false
	rem := body[4 : len(body)-1]
	for len(rem) > 0 {
		el, rest, valid := bsoncore.ReadElement(rem)
		if !valid {
			return nil // ParseMsg validated the body; unreachable
		}
		switch string(el.KeyBytes()) {
		case "ok":
			f, isNum := el.Value().AsFloat64OK()
			ok = isNum && f == 1
		case "writeConcernError":
			wce = true
		}
		rem = rest
	}
	if ok && !wce {
		return nil
	}
	return driver.ExtractErrorFromServerResponse(body)
}

// Members lists every member of the set as currently known (seeds until discovery, then the
// members the set reports), including members that are down, sorted.
func (s *Shard) Members() []string {
	desc := s.topo.Description()
	hosts := make([]string, len(desc.Servers))
	for i, srv := range desc.Servers {
		hosts[i] = srv.Addr.String()
	}
	slices.Sort(hosts)
	return hosts
}

// dataBearing reports whether a member holds data (primary or secondary).
func dataBearing(k description.ServerKind) bool {
	return k == description.ServerKindRSPrimary || k == description.ServerKindRSSecondary
}

// WireVersions is the range of wire versions every known data-bearing member supports; ok is
// false when no such member is known or the ranges do not overlap.
func (s *Shard) WireVersions() (lo, hi int32, ok bool) {
	for _, srv := range s.topo.Description().Servers {
		if !dataBearing(srv.Kind) || srv.WireVersion == nil {
			continue
		}
		if !ok {
			lo, hi, ok = srv.WireVersion.Min, srv.WireVersion.Max, true
			continue
		}
		lo, hi = max(lo, srv.WireVersion.Min), min(hi, srv.WireVersion.Max)
	}
	if ok && lo > hi {
		return 0, 0, false
	}
	return lo, hi, ok
}

// SessionTimeoutMinutes is the smallest logicalSessionTimeoutMinutes of the data-bearing
// members; false when none is known or one of them does not report it (sessions unsupported).
func (s *Shard) SessionTimeoutMinutes() (int32, bool) {
	var minutes int64
	found := false
	for _, srv := range s.topo.Description().Servers {
		if !dataBearing(srv.Kind) {
			continue
		}
		if srv.SessionTimeoutMinutes == nil {
			return 0, false
		}
		if !found || *srv.SessionTimeoutMinutes < minutes {
			minutes, found = *srv.SessionTimeoutMinutes, true
		}
	}
	return int32(minutes), found
}

// HasPrimary reports whether a primary is currently known.
func (s *Shard) HasPrimary() bool {
	for _, srv := range s.topo.Description().Servers {
		if srv.Kind == description.ServerKindRSPrimary {
			return true
		}
	}
	return false
}

// Close stops monitoring and closes every connection, lent ones included; it waits for the
// driver's goroutines (monitors) and the pool maintainer to stop, within ctx. Later calls return
// the first result.
func (s *Shard) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.poolsMu.Lock()
		s.closed = true
		pools := *s.pools.Load()
		s.poolsMu.Unlock()
		if s.stopMaint != nil {
			s.stopMaint()
			select {
			case <-s.maintDone:
			case <-ctx.Done():
				s.closeErr = ctx.Err()
			}
		}
		for _, p := range pools {
			p.Close()
		}
		if err := s.topo.Disconnect(ctx); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}
