package router

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// TLSMode is mongod's net.tls.mode for client connections.
type TLSMode string

const (
	TLSDisabled TLSMode = "disabled" // plain connections only; a TLS handshake is refused
	TLSAllow    TLSMode = "allow"    // TLS and plain connections on the same port
	TLSPrefer   TLSMode = "prefer"   // as allow (mongod differs only in its outgoing connections), plain ones logged
	TLSRequire  TLSMode = "require"  // TLS only; a plain connection is closed
)

// ParseTLSMode accepts the short names and mongod's (allowTLS, preferTLS, requireTLS).
func ParseTLSMode(s string) (TLSMode, error) {
	switch s {
	case "disabled":
		return TLSDisabled, nil
	case "allow", "allowTLS":
		return TLSAllow, nil
	case "prefer", "preferTLS":
		return TLSPrefer, nil
	case "require", "requireTLS":
		return TLSRequire, nil
	}
	return "", fmt.Errorf("unknown TLS mode %q (disabled, allow, prefer or require)", s)
}

// tlsHandshakeTimeout bounds reading a connection's first message header and the TLS handshake:
// a client that connects and stays silent cannot hold its goroutine longer.
const tlsHandshakeTimeout = 10 * time.Second

// tlsMode is the effective mode: an empty TLSMode means require with a certificate, disabled
// without one.
func (c Config) tlsMode() (TLSMode, error) {
	mode := c.TLSMode
	if mode == "" {
		if c.TLS != nil {
			return TLSRequire, nil
		}
		return TLSDisabled, nil
	}
	if _, err := ParseTLSMode(string(mode)); err != nil {
		return "", err
	}
	if mode != TLSDisabled && c.TLS == nil {
		return "", fmt.Errorf("TLS mode %s needs a server certificate", mode)
	}
	return mode, nil
}

// wrapTLS puts the configured TLS mode on the listener; on a bad configuration it closes ln.
// Even when TLS is disabled every connection is looked at, so that a TLS client is told off
// in the log instead of being read as a 16 MB message that never comes.
func wrapTLS(ln net.Listener, cfg Config) (net.Listener, error) {
	mode, err := cfg.tlsMode()
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("router: %w", err)
	}
	return &tlsListener{Listener: ln, cfg: cfg.TLS, mode: mode, log: cfg.Logger, timeout: tlsHandshakeTimeout}, nil
}

// tlsListener returns connections that decide on their first read whether they speak TLS, so
// that Accept never waits for a client.
type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	mode    TLSMode
	log     zerolog.Logger
	timeout time.Duration
}

func (l *tlsListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: nc, l: l}, nil
}

// sniffConn is an accepted connection whose first Read or Write reads the first 16 bytes and
// tells TLS from plain as mongod does: a client's first message is a request, whose responseTo
// is 0 (or -1); anything else is taken for a TLS ClientHello. Then it reads and writes either
// through TLS or in plain, with the bytes it read first handed back.
type sniffConn struct {
	net.Conn // the accepted connection: addresses, deadlines, Close
	l        *tlsListener

	once sync.Once
	rw   net.Conn // after detection: a *tls.Conn or the plain *replayConn
	err  error    // detection failure, returned by every Read and Write

	mu     sync.Mutex // guards rd and wd, the deadlines the user set, restored after detection
	rd, wd time.Time
}

func (c *sniffConn) Read(b []byte) (int, error) {
	if c.once.Do(c.detect); c.err != nil {
		return 0, c.err
	}
	return c.rw.Read(b)
}

func (c *sniffConn) Write(b []byte) (int, error) {
	if c.once.Do(c.detect); c.err != nil {
		return 0, c.err
	}
	return c.rw.Write(b)
}

// The deadline setters pass through (a *tls.Conn sets its deadlines on the same connection) and
// remember what the user asked for, which detection's own deadline must not outlive.
func (c *sniffConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd, c.wd = t, t
	return c.Conn.SetDeadline(t)
}

func (c *sniffConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd = t
	return c.Conn.SetReadDeadline(t)
}

func (c *sniffConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wd = t
	return c.Conn.SetWriteDeadline(t)
}

// detect runs once, in the connection's own goroutine, bounded by the handshake timeout or an
// earlier deadline of the user's.
func (c *sniffConn) detect() {
	limit := time.Now().Add(c.l.timeout)
	c.mu.Lock()
	_ = c.Conn.SetReadDeadline(earlier(c.rd, limit))
	_ = c.Conn.SetWriteDeadline(earlier(c.wd, limit))
	c.mu.Unlock()
	c.rw, c.err = c.open()
	c.mu.Lock()
	_ = c.Conn.SetReadDeadline(c.rd)
	_ = c.Conn.SetWriteDeadline(c.wd)
	c.mu.Unlock()
}

// earlier is the earlier of a user deadline (zero: none) and limit.
func earlier(user, limit time.Time) time.Time {
	if !user.IsZero() && user.Before(limit) {
		return user
	}
	return limit
}

// errNotTLS and errTLSDisabled close connections whose transport the mode forbids; the texts
// are mongod's.
var (
	errNotTLS      = errors.New("The server is configured to only allow SSL connections")
	errTLSDisabled = errors.New("SSL handshake received but server is started without SSL support")
)

func (c *sniffConn) open() (net.Conn, error) {
	log := c.l.log.With().Str("remote", c.RemoteAddr().String()).Logger()
	head := make([]byte, wire.HeaderLen)
	if n, err := io.ReadFull(c.Conn, head); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF // gone without a word: an ordinary close
		}
		log.Debug().Err(err).Int("bytes", n).Msg("closing connection: no message header")
		return nil, fmt.Errorf("reading the first message header: %v", err)
	}
	plain := &replayConn{Conn: c.Conn, head: head}
	if responseTo := int32(binary.LittleEndian.Uint32(head[8:12])); responseTo == 0 || responseTo == -1 {
		switch c.l.mode {
		case TLSRequire:
			log.Warn().Msg("closing connection: " + errNotTLS.Error())
			return nil, errNotTLS
		case TLSPrefer:
			log.Info().Msg("SSL mode is set to 'preferred' and connection to remote is not using SSL.")
		}
		return plain, nil
	}
	if c.l.mode == TLSDisabled {
		log.Warn().Msg("closing connection: " + errTLSDisabled.Error())
		return nil, errTLSDisabled
	}
	tc := tls.Server(plain, c.l.cfg)
	if err := tc.Handshake(); err != nil {
		ev := log.Warn()
		if errors.Is(err, net.ErrClosed) { // the router is closing
			ev = log.Debug()
		}
		ev.Err(err).Msg("closing connection: TLS handshake failed")
		return nil, fmt.Errorf("TLS handshake: %v", err)
	}
	if log.GetLevel() <= zerolog.DebugLevel {
		st := tc.ConnectionState()
		ev := log.Debug().Str("version", tls.VersionName(st.Version)).Str("cipher", tls.CipherSuiteName(st.CipherSuite))
		if len(st.PeerCertificates) > 0 {
			ev = ev.Str("clientSubject", st.PeerCertificates[0].Subject.String())
		}
		ev.Msg("TLS handshake complete")
	}
	return tc, nil
}

// replayConn hands back the bytes detection read before reading further.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(b, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
