package router

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// A merged change stream's resume token is a shard's token with the shard's name after it
// (docs/architecture.md, "Change streams across shards"). A shard's token is the hex of a
// KeyString that starts with the event's cluster time (resume_token.cpp), so tokens sort as the
// events they name; the router's adds the shard's name, a byte of its length and a format byte
// in hex behind it, so that its tokens sort the same way, break a tie between two shards by
// name, and resume exactly: the named shard resumes after its own token, every other shard at
// the token's cluster time, and the router drops what comes at or before the token. Nothing of
// it lives in the router, so any router resumes it, before or after a restart.

// routerTokenFormat ends a router's token; a shard's token ends with KeyString's end byte (4).
const routerTokenFormat = 0xF1

// ksTimestamp is KeyString's type byte of a Timestamp, the first field of every resume token.
const ksTimestamp = 130

// streamPos is a place in a merged stream: a shard's resume token and the shard it came from.
// The zero shard ("") marks a point in cluster time that is the same on every shard.
type streamPos struct {
	data     string // the shard token's _data: upper-case hex, which sorts as positions do
	typeBits []byte // the shard token's _typeBits, when it has one
	shard    string
}

// compare orders positions: by the shard's token, then by the shard's name.
func (p streamPos) compare(q streamPos) int {
	if c := strings.Compare(p.data, q.data); c != 0 {
		return c
	}
	return strings.Compare(p.shard, q.shard)
}

// isZero reports the zero position (no position yet).
func (p streamPos) isZero() bool { return p.data == "" }

// clusterTime is the cluster time the position is at.
func (p streamPos) clusterTime() bson.Timestamp {
	raw, _ := hex.DecodeString(p.data[2:18]) // parseShardToken checked the prefix
	v := binary.BigEndian.Uint64(raw)
	return bson.Timestamp{T: uint32(v >> 32), I: uint32(v)}
}

// timePos is the position just before every event at or after ts: the prefix every token of
// that time starts with.
func timePos(ts bson.Timestamp) streamPos {
	return streamPos{data: strings.ToUpper(hex.EncodeToString(binary.BigEndian.AppendUint64([]byte{ksTimestamp},
		uint64(ts.T)<<32|uint64(ts.I))))}
}

// nextTick is the cluster time right after ts.
func nextTick(ts bson.Timestamp) bson.Timestamp {
	if ts.I == math.MaxUint32 {
		return bson.Timestamp{T: ts.T + 1}
	}
	return bson.Timestamp{T: ts.T, I: ts.I + 1}
}

// shardToken is the position as the shard wrote it, to resume that shard.
func (p streamPos) shardToken() bsoncore.Document {
	return tokenDoc(p.data, p.typeBits)
}

// routerToken is the position as the router hands it to clients.
func (p streamPos) routerToken() bsoncore.Document {
	suffix := append([]byte(p.shard), byte(len(p.shard)), routerTokenFormat)
	return tokenDoc(p.data+strings.ToUpper(hex.EncodeToString(suffix)), p.typeBits)
}

func tokenDoc(data string, typeBits []byte) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendString("_data", data)
	if typeBits != nil {
		b.AppendBinary("_typeBits", bson.TypeBinaryGeneric, typeBits)
	}
	return b.Build()
}

// parseStreamToken reads a resume token a client sent to a merged stream: the router's own
// (routed true, the shard named), or a shard's (a stream that went to one shard gave it; its
// shard is unknown). The checks and codes are mongod's for a token it cannot read
// (resume_token.cpp).
func parseStreamToken(doc bsoncore.Document) (pos streamPos, routed bool, err error) {
	data, ok := bsonview.Lookup(doc, "_data")
	s, isString := data.StringValueOK()
	if !ok || !isString {
		return pos, false, mongoerr.New(40647, "Bad resume token: _data of missing or of wrong type. Expected string, got %s", bson.Raw(doc))
	}
	if tb, ok := bsonview.Lookup(doc, "_typeBits"); ok {
		sub, bits, isBin := tb.BinaryOK()
		if !isBin || sub != bson.TypeBinaryGeneric {
			return pos, false, mongoerr.New(40648, "Bad resume token: _typeBits of wrong type %s", bson.Raw(doc))
		}
		pos.typeBits = bytes.Clone(bits)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return pos, false, mongoerr.New(mongoerr.FailedToParse, "resume token string was not a valid hex string")
	}
	if n := len(raw); n >= 2 && raw[n-1] == routerTokenFormat {
		nameLen := int(raw[n-2])
		if nameLen > n-2 {
			return pos, false, mongoerr.New(mongoerr.InvalidResumeToken, "resume token %s names no shard", bson.Raw(doc))
		}
		pos.shard = string(raw[n-2-nameLen : n-2])
		raw = raw[:n-2-nameLen]
		routed = true
	}
	if len(raw) < 9 || raw[0] != ksTimestamp {
		return pos, false, mongoerr.New(50811, "KeyString format error: resume token clusterTime is not a Timestamp")
	}
	pos.data = strings.ToUpper(hex.EncodeToString(raw))
	return pos, routed, nil
}

// shardPos is a token a shard returned (an event's _id, a postBatchResumeToken) as a position.
func shardPos(doc bsoncore.Document, shard string) (streamPos, error) {
	pos, routed, err := parseStreamToken(doc)
	if err == nil && routed {
		err = mongoerr.New(mongoerr.InternalError, "shard %s returned a router's resume token", shard)
	}
	pos.shard = shard
	return pos, err
}
