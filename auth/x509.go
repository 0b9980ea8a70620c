package auth

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// MechanismX509 authenticates a client by the subject of its verified TLS certificate, as a
// user of ExternalDB whose name is that subject.
const MechanismX509 = "MONGODB-X509"

// ExternalDB is the database of users whose credentials live outside the users file.
const ExternalDB = "$external"

// SetPeer records the connection's TLS state (nil: a plain connection) for MONGODB-X509. The
// transport learns it only after the handshake, after the conversation was created.
func (c *Conversation) SetPeer(state *tls.ConnectionState) { c.peer = state }

// Authenticate answers the authenticate command run on db, which serves MONGODB-X509 only.
// It appends dbname and user to the open reply document dst; on error dst is returned unchanged
// with mongod's error (authenticate.cpp authCommand / _authenticateX509).
func (c *Conversation) Authenticate(dst []byte, db string, cmd bsoncore.Document) ([]byte, error) {
	return c.authenticate(dst, db, cmd, false)
}

func (c *Conversation) authenticate(dst []byte, db string, cmd bsoncore.Document, speculative bool) ([]byte, error) {
	mech, user, err := parseAuthenticate(cmd)
	if err != nil {
		return dst, err
	}
	// Like a saslStart, authenticate abandons any SASL conversation under way.
	c.reset()
	c.mech, c.db, c.principal, c.speculative = mech, db, user, speculative
	switch mech {
	case "":
		return dst, mongoerr.New(mongoerr.BadValue, "Auth mechanism not specified")
	case MechanismX509:
	default:
		c.failed("unsupported mechanism")
		return dst, mongoerr.New(mongoerr.BadValue, "Unsupported mechanism: %s", mech)
	}
	if c.peer == nil {
		c.failed("not a TLS connection")
		return dst, mongoerr.New(mongoerr.ProtocolError, "SSL support is required for the MONGODB-X509 mechanism.")
	}
	if db != ExternalDB {
		c.failed("not on " + ExternalDB)
		return dst, mongoerr.New(mongoerr.ProtocolError, "X.509 authentication must always use the $external database.")
	}
	subject, reason := peerSubject(c.peer)
	if subject == "" {
		c.failed(reason)
		return dst, mongoerr.New(mongoerr.AuthenticationFailed, "No verified subject name available from client")
	}
	if user == "" {
		c.principal = subject
	} else if user != subject {
		c.failed("the client certificate's subject is " + subject)
		return dst, mongoerr.New(mongoerr.AuthenticationFailed, "There is no x.509 client certificate matching the user.")
	}
	c.candidate = c.a.users.Lookup(subject, ExternalDB)
	if c.candidate == nil {
		return dst, c.authFailed("user not found")
	}
	if err := c.authorize(); err != nil {
		return dst, err
	}
	dst = bsoncore.AppendStringElement(dst, "dbname", ExternalDB)
	return bsoncore.AppendStringElement(dst, "user", subject), nil
}

// appendSpeculativeX509 is hello's speculativeAuthenticate carrying an authenticate: always on
// $external, whatever its db says (doSpeculativeAuthenticate); a failure appends nothing.
func (c *Conversation) appendSpeculativeX509(dst []byte, spec bsoncore.Document) []byte {
	idx, out := bsoncore.AppendDocumentElementStart(dst, "speculativeAuthenticate")
	out, err := c.authenticate(out, ExternalDB, withoutDB(spec), true)
	if err != nil {
		return dst
	}
	out, _ = bsoncore.AppendDocumentEnd(out, idx)
	return out
}

// parseAuthenticate reads the authenticate command as its IDL declares it (strict: mechanism
// required, user optional, both strings).
func parseAuthenticate(cmd bsoncore.Document) (mech, user string, err error) {
	elems, err := cmd.Elements()
	if err != nil {
		return "", "", mongoerr.New(mongoerr.InvalidBSON, "invalid BSON in 'authenticate' command")
	}
	hasMech := false
	for _, e := range elems[1:] {
		key, v := e.Key(), e.Value()
		var dst *string
		switch key {
		case "mechanism":
			dst, hasMech = &mech, true
		case "user":
			dst = &user
		default:
			if genericArguments[key] {
				continue
			}
			return "", "", mongoerr.New(mongoerr.IDLUnknownField, "BSON field 'authenticate.%s' is an unknown field.", key)
		}
		s, ok := v.StringValueOK()
		if !ok {
			return "", "", mongoerr.WrongType("authenticate."+key, v.Type, "string")
		}
		*dst = s
	}
	if !hasMech {
		return "", "", mongoerr.New(mongoerr.IDLFailedToParse, "BSON field 'authenticate.mechanism' is missing but a required field")
	}
	return mech, user, nil
}

// peerSubject is the subject name of the client's verified certificate, or why there is none.
func peerSubject(st *tls.ConnectionState) (subject, reason string) {
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return "", "no verified client certificate"
	}
	subject, err := SubjectName(st.VerifiedChains[0][0].RawSubject)
	if err != nil {
		return "", err.Error()
	}
	return subject, ""
}

// SubjectName formats a DER-encoded X.509 Name as mongod prints a certificate's subject:
// RFC 2253, most specific RDN first (the reverse of the certificate's order), attributes of a
// multi-valued RDN joined by "+", OpenSSL's short names, values escaped as mongod's
// escapeRfc2253 does (ssl_manager.cpp SSLX509Name::toString).
func SubjectName(raw []byte) (string, error) {
	var rdns pkix.RDNSequence
	rest, err := asn1.Unmarshal(raw, &rdns)
	switch {
	case err != nil:
		return "", fmt.Errorf("certificate subject: %w", err)
	case len(rest) > 0:
		return "", errors.New("certificate subject: trailing data")
	case len(rdns) == 0:
		return "", errors.New("certificate subject is empty")
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i < len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(oidShortName(atv.Type))
			b.WriteByte('=')
			b.WriteString(escapeRFC2253(attributeString(atv.Value)))
		}
	}
	return b.String(), nil
}

// oidShortNames are OpenSSL's short names (what mongod prints on Linux) of the attribute types
// certificates use; any other type prints as its dotted OID, as mongod's x509OidToShortName.
var oidShortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L",
	"2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title",
	"2.5.4.17": "postalCode", "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
	"2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym",
	"0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1": "emailAddress",
}

func oidShortName(oid asn1.ObjectIdentifier) string {
	s := oid.String()
	if name, ok := oidShortNames[s]; ok {
		return name
	}
	return s
}

// attributeString is an attribute value as text: the string types asn1 decodes to UTF-8
// (UTF8String, PrintableString, IA5String, T61String, BMPString), anything else as Go prints it.
func attributeString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// escapeRFC2253 escapes a value as mongod's escapeRfc2253: a leading space or '#', the
// characters ,+"\<>; and a trailing space get a backslash; every byte of a non-ASCII character
// becomes \XX.
func escapeRFC2253(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case i == 0 && (ch == ' ' || ch == '#'):
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch >= 0x80:
			fmt.Fprintf(&b, "\\%02X", ch)
		case strings.IndexByte(",+\"\\<>;", ch) >= 0:
			b.WriteByte('\\')
			b.WriteByte(ch)
		default:
			b.WriteByte(ch)
		}
	}
	out := b.String()
	// mongod escapes a trailing space only in output longer than two bytes.
	if len(out) > 2 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1] + "\\ "
	}
	return out
}
