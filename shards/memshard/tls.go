package memshard

import (
	"crypto/tls"
	"net"
)

// tlsOptions is memshard's net.tls: off unless WithTLS gives a configuration. With it on, every
// connection must speak TLS (mongod's tlsMode requireTLS).
type tlsOptions struct {
	cfg *tls.Config
}

// WithTLS makes every member accept only TLS connections, with cfg as the server side (its
// certificate, and ClientAuth/ClientCAs when clients must present certificates).
func WithTLS(cfg *tls.Config) Option {
	return func(o *setOptions) { o.tls.cfg = cfg }
}

// wrap puts TLS on a member's listener. The handshake runs on a connection's first read, in its
// own goroutine and under its read deadline, so a silent client cannot stall Accept.
func (t tlsOptions) wrap(ln net.Listener) net.Listener {
	if t.cfg == nil {
		return ln
	}
	return tls.NewListener(ln, t.cfg)
}
