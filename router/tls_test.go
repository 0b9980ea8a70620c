package router

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/testcerts"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// checkLeaks fails t if goroutines started during the test outlive it and its cleanups (it
// runs last, after the cleanups registered later).
func checkLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// logBuffer collects log lines written from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLog waits until the log holds want.
func waitLog(t *testing.T, logs *logBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q; it has:\n%s", want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echoServer serves ln (a tlsListener) with one goroutine per connection that echoes what it
// reads; it returns a stop function that closes everything and waits for the goroutines.
func echoServer(t *testing.T, ln net.Listener) (stop func()) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// plainMessage looks like a client's first request: a header with responseTo 0.
func plainMessage(n int) []byte {
	msg := make([]byte, n)
	binary.LittleEndian.PutUint32(msg, uint32(n))
	binary.LittleEndian.PutUint32(msg[4:], 7) // requestID
	binary.LittleEndian.PutUint32(msg[12:], 2013)
	for i := 16; i < n; i++ {
		msg[i] = byte(i)
	}
	return msg
}

// echoOnce dials addr (through TLS when cfg is set), sends a message and wants it back.
func echoOnce(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 10 * time.Second}
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := plainMessage(100)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs")
	}
	return nil
}

func listenTLS(t *testing.T, cfg Config) (*tlsListener, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg.Logger = zerolog.New(logs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := wrapTLS(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return wrapped.(*tlsListener), logs
}

func TestTLSListenerModes(t *testing.T) {
	checkLeaks(t)
	certs := testcerts.New(t)
	stranger := testcerts.New(t)
	type client struct {
		name string
		cfg  *tls.Config
	}
	plain := client{"plain", nil}
	tlsNoCert := client{"tls", certs.ClientConfig(false)}
	tlsCert := client{"tls with client certificate", certs.ClientConfig(true)}
	badCert := client{"tls with an untrusted client certificate", func() *tls.Config {
		c := certs.ClientConfig(false)
		c.Certificates = stranger.ClientConfig(true).Certificates
		return c
	}()}
	untrusting := client{"tls not trusting the server", stranger.ClientConfig(false)}
	for _, tc := range []struct {
		mode     TLSMode
		server   *tls.Config
		accepted []client
		refused  []client
		log      string // what a refused plain or TLS client leaves in the log
	}{
		{TLSDisabled, nil, []client{plain}, []client{tlsNoCert}, errTLSDisabled.Error()},
		{TLSAllow, certs.ServerConfig(), []client{plain, tlsNoCert, tlsCert}, []client{badCert, untrusting}, "TLS handshake failed"},
		{TLSPrefer, certs.ServerConfig(), []client{plain, tlsNoCert, tlsCert}, []client{badCert}, "not using SSL"},
		{TLSRequire, certs.ServerConfig(), []client{tlsNoCert, tlsCert}, []client{plain, badCert}, errNotTLS.Error()},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			ln, logs := listenTLS(t, Config{TLS: tc.server, TLSMode: tc.mode})
			stop := echoServer(t, ln)
			defer stop()
			addr := ln.Addr().String()
			for _, c := range tc.accepted {
				if err := echoOnce(addr, c.cfg); err != nil {
					t.Errorf("%s client: %v, want served", c.name, err)
				}
			}
			for _, c := range tc.refused {
				if err := echoOnce(addr, c.cfg); err == nil {
					t.Errorf("%s client served, want refused", c.name)
				}
			}
			waitLog(t, logs, tc.log)
		})
	}
}

// TestTLSListenerSilentClient: Accept does not wait for a client's first bytes, detection gives
// up after the handshake timeout, and a deadline the user set survives detection.
func TestTLSListenerSilentClient(t *testing.T) {
	checkLeaks(t)
	certs := testcerts.New(t)
	ln, logs := listenTLS(t, Config{TLS: certs.ServerConfig(), TLSMode: TLSAllow})
	ln.timeout = 200 * time.Millisecond
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		_ = ln.Close()
		for c := range accepted {
			_ = c.Close()
		}
	}()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var sc net.Conn
	select {
	case sc = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("Accept waited for the silent client")
	}
	start := time.Now()
	_, err = sc.Read(make([]byte, 1))
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("read from a silent client: %v after %v, want an error after about 200ms", err, time.Since(start))
	}
	if _, err := sc.Write([]byte{1}); err == nil {
		t.Fatal("write after failed detection succeeded")
	}
	waitLog(t, logs, "no message header")

	// A plain client that pauses after its header, longer than the handshake timeout: the
	// deadline detection set is gone, the user's (none) is back.
	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	sc = <-accepted
	msg := plainMessage(64)
	if _, err := slow.Write(msg[:16]); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16)
	if _, err := io.ReadFull(sc, got); err != nil || !bytes.Equal(got, msg[:16]) {
		t.Fatalf("header: %v %x", err, got)
	}
	time.Sleep(3 * ln.timeout) // past the detection deadline, which must not fire now
	if _, err := slow.Write(msg[16:]); err != nil {
		t.Fatal(err)
	}
	rest := make([]byte, 48)
	if _, err := io.ReadFull(sc, rest); err != nil || !bytes.Equal(rest, msg[16:]) {
		t.Fatalf("rest of the message after a pause: %v", err)
	}
	// A deadline the user sets now still works.
	_ = sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := sc.Read(rest); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the user's deadline: %v, want a timeout", err)
	}
}

func TestTLSConfigRefused(t *testing.T) {
	certs := testcerts.New(t)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{TLSMode: TLSRequire}, "needs a server certificate"},
		{Config{TLSMode: TLSAllow}, "needs a server certificate"},
		{Config{TLS: certs.ServerConfig(), TLSMode: "sometimes"}, "unknown TLS mode"},
	} {
		srv := &Server{cfg: tc.cfg.withDefaults()}
		if err := srv.Listen(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Listen with mode %q: %v, want %q", tc.cfg.TLSMode, err, tc.want)
		}
	}
	for in, want := range map[string]TLSMode{"disabled": TLSDisabled, "allow": TLSAllow, "allowTLS": TLSAllow,
		"prefer": TLSPrefer, "preferTLS": TLSPrefer, "require": TLSRequire, "requireTLS": TLSRequire} {
		if got, err := ParseTLSMode(in); err != nil || got != want {
			t.Errorf("ParseTLSMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseTLSMode("requireSSL"); err == nil {
		t.Error("ParseTLSMode(requireSSL) accepted")
	}
}

// tlsCluster is a memshard set behind a router, both configurable.
func tlsCluster(t testing.TB, setOpts []memshard.Option, shardCfg func(*shards.Config), routerCfg func(*Config)) (addr string, logs *logBuffer) {
	t.Helper()
	srv, logs := oneShardServer(t, setOpts, shardCfg, routerCfg)
	return srv.Addr(), logs
}

// oneShardServer is a router in front of one memshard set of one member.
func oneShardServer(t testing.TB, setOpts []memshard.Option, shardCfg func(*shards.Config), routerCfg func(*Config)) (*Server, *logBuffer) {
	t.Helper()
	rs, err := memshard.StartReplicaSet("rs0", 1, setOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	sc := shards.Config{Name: "s0", SetName: "rs0", Hosts: rs.Hosts(), ServerSelectionTimeout: 15 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond, Logger: zerolog.Nop()}
	if shardCfg != nil {
		shardCfg(&sc)
	}
	sh := openShard(t, sc)
	logs := &logBuffer{}
	cfg := Config{Logger: zerolog.New(logs)}
	if routerCfg != nil {
		routerCfg(&cfg)
	}
	return serveRouter(t, cfg, sh), logs
}

// openShard opens a shard, closed with the test.
func openShard(t testing.TB, sc shards.Config) *shards.Shard {
	t.Helper()
	sh, err := shards.Open(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sh.Close(ctx)
	})
	return sh
}

// serveRouter starts a router over the shards; the test closes it and checks that it closed.
func serveRouter(t testing.TB, cfg Config, shardList ...*shards.Shard) *Server {
	t.Helper()
	srv, err := New(cfg, shardList)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("router Close: %v", err)
		}
		<-served
	})
	return srv
}

// driverInsert connects the official driver (TLS when cfg is set) and inserts in a session. A
// client expected to be refused waits 2 s for a usable router, one expected to be served
// longer, for loaded machines.
func driverInsert(t *testing.T, addr string, cfg *tls.Config, served bool) error {
	t.Helper()
	wait := 2 * time.Second
	if served {
		wait = 15 * time.Second
	}
	opts := options.Client().ApplyURI("mongodb://" + addr + "/").SetServerSelectionTimeout(wait)
	if cfg != nil {
		opts.SetTLSConfig(cfg)
	}
	cl, err := mongo.Connect(opts)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Disconnect(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cl.UseSession(ctx, func(ctx context.Context) error {
		_, err := cl.Database("test").Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
		return err
	})
}

func TestDriverTLSModes(t *testing.T) {
	checkLeaks(t)
	certs := testcerts.New(t)
	for _, tc := range []struct {
		mode          TLSMode
		plain, secure bool // whether a plain and a TLS driver get served
	}{
		{TLSDisabled, true, false},
		{TLSAllow, true, true},
		{TLSPrefer, true, true},
		{TLSRequire, false, true},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			addr, logs := tlsCluster(t, nil, nil, func(cfg *Config) {
				cfg.TLSMode = tc.mode
				if tc.mode != TLSDisabled {
					cfg.TLS = certs.ServerConfig()
				}
			})
			for _, c := range []struct {
				name  string
				cfg   *tls.Config
				serve bool
			}{{"plain", nil, tc.plain}, {"tls", certs.ClientConfig(true), tc.secure}} {
				err := driverInsert(t, addr, c.cfg, c.serve)
				if c.serve && err != nil {
					t.Errorf("%s driver: %v", c.name, err)
				}
				if !c.serve && err == nil {
					t.Errorf("%s driver served, want refused", c.name)
				}
			}
			switch tc.mode {
			case TLSDisabled:
				waitLog(t, logs, errTLSDisabled.Error())
			case TLSRequire:
				waitLog(t, logs, errNotTLS.Error())
			}
		})
	}
}

// TestDriverTLSEndToEnd: the driver talks TLS to the router, which talks TLS to a shard that
// requires its client certificate and authenticates it by the key file; sessions carry the
// router's uids to the shard, which accepts them from __system.
func TestDriverTLSEndToEnd(t *testing.T) {
	checkLeaks(t)
	certs := testcerts.New(t)
	keyPath := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyPath, []byte("ZW5kLXRvLWVuZC1rZXk=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := auth.ReadKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	shardTLS := certs.ServerConfig()
	shardTLS.ClientAuth = tls.RequireAndVerifyClientCert
	addr, _ := tlsCluster(t, []memshard.Option{memshard.WithTLS(shardTLS), memshard.WithKeyFile(keyPath)},
		func(cfg *shards.Config) {
			cred := shards.InternalCredential(key)
			cfg.Auth, cfg.TLS = &cred, certs.ClientConfig(true)
		},
		func(cfg *Config) { cfg.TLS = certs.ServerConfig() })
	if err := driverInsert(t, addr, certs.ClientConfig(false), true); err != nil {
		t.Fatalf("insert through TLS, TLS and the key file: %v", err)
	}
}
