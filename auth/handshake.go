package auth

import (
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// codeUnknownSpeculative is mongod's assertion for a speculativeAuthenticate document that is
// neither a saslStart nor an authenticate.
const codeUnknownSpeculative mongoerr.Code = 51769

// AppendSpeculative handles hello's speculativeAuthenticate: a saslStart carried in the
// handshake, its database in a "db" field, or a MONGODB-X509 authenticate. When a saslStart
// succeeds it appends speculativeAuthenticate: {conversationId, done, payload} to the open hello
// reply dst and the client continues with saslContinue; an authenticate that succeeds appends
// speculativeAuthenticate: {dbname, user} and the connection is authenticated. When either
// fails nothing is appended and the client authenticates as usual, as mongod treats a failed
// speculative start "like we never even got" one. Only a speculativeAuthenticate that is not a
// non-empty document, or names another command, is an error.
func (c *Conversation) AppendSpeculative(dst []byte, hello bsoncore.Document) ([]byte, error) {
	name := helloName(hello)
	v, err := hello.LookupErr("speculativeAuthenticate")
	if err != nil {
		return dst, nil
	}
	spec, ok := v.DocumentOK()
	if !ok {
		return dst, mongoerr.New(mongoerr.BadValue, "%s.speculativeAuthenticate must be an Object", name)
	}
	first, err := spec.IndexErr(0)
	if err != nil {
		return dst, mongoerr.New(mongoerr.BadValue, "%s.speculativeAuthenticate must be a non-empty Object", name)
	}
	switch first.Key() {
	case "saslStart":
	case "authenticate": // MONGODB-X509
		return c.appendSpeculativeX509(dst, spec), nil
	default:
		return dst, mongoerr.New(codeUnknownSpeculative, "%s.speculativeAuthenticate unknown command: %s", name, first.Key())
	}
	db, ok := spec.Lookup("db").StringValueOK()
	if !ok {
		return dst, nil
	}
	req, err := parseSasl(withoutDB(spec), "saslStart", saslStartFields)
	if err != nil {
		return dst, nil
	}
	idx, out := bsoncore.AppendDocumentElementStart(dst, "speculativeAuthenticate")
	out, err = c.start(out, db, req, true)
	if err != nil {
		return dst, nil
	}
	out, _ = bsoncore.AppendDocumentEnd(out, idx)
	return out, nil
}

// withoutDB is the speculative saslStart without its "db" field, which stands for $db there.
func withoutDB(spec bsoncore.Document) bsoncore.Document {
	elems, _ := spec.Elements()
	idx, doc := bsoncore.AppendDocumentStart(nil)
	for _, e := range elems {
		if e.Key() != "db" {
			doc = append(doc, e...)
		}
	}
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	return doc
}

// AppendSaslSupportedMechs handles hello's saslSupportedMechs: "db.user": it appends
// saslSupportedMechs: [mechanisms the user has credentials for] to the open hello reply dst. An
// unknown user gets no field (mongod only logs it).
func (a *Authenticator) AppendSaslSupportedMechs(dst []byte, hello bsoncore.Document) ([]byte, error) {
	v, err := hello.LookupErr("saslSupportedMechs")
	if err != nil {
		return dst, nil
	}
	s, ok := v.StringValueOK()
	if !ok {
		return dst, mongoerr.WrongType(helloName(hello)+".saslSupportedMechs", v.Type, "string")
	}
	db, user, ok := strings.Cut(s, ".")
	if !ok {
		return dst, mongoerr.New(mongoerr.BadValue, "username must contain a '.' separated database.user pair")
	}
	u := a.Lookup(user, db)
	if u == nil {
		a.log.Debug().Str("user", user).Str("db", db).Msg("Supported SASL mechanisms requested for unknown user")
		return dst, nil
	}
	idx, out := bsoncore.AppendArrayElementStart(dst, "saslSupportedMechs")
	for i, m := range u.Mechanisms() {
		out = bsoncore.AppendStringElement(out, strconv.Itoa(i), m)
	}
	out, _ = bsoncore.AppendArrayEnd(out, idx)
	return out, nil
}

// helloName is the command name a hello was sent as, for error paths.
func helloName(hello bsoncore.Document) string {
	if e, err := hello.IndexErr(0); err == nil {
		return e.Key()
	}
	return "hello"
}
