// Package clustertime is the $clusterTime gossip of mongod and mongos, shared by the router and
// memshard: reading the field a command carries, the rate limiter that keeps a time from running
// too far ahead of the wall clock, and the HMAC signatures that let a server accept from an
// ordinary client only the times that it, or a peer holding the same keys, handed out
// (src/mongo/db/topology/vector_clock/vector_clock.cpp, logical_time_validator.cpp,
// time_proof_service.cpp). docs/architecture.md, "Cluster time", says where the keys come from.
package clustertime

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Field is the command and reply field that carries the cluster time.
const Field = "$clusterTime"

// hashLen is a proof's length: an HMAC-SHA1 (mongod's SHA1Block).
const hashLen = 20

// Signature vouches for a cluster time: the HMAC of the time under the key KeyID names. The zero
// Signature is mongod's dummy one (TimeProofService::TimeProof() and key id 0), which servers
// give to clients they trust to advance the clock anyway.
type Signature struct {
	Hash  [hashLen]byte
	KeyID int64
}

// Dummy reports whether the proof is the all-zero one, whatever the key id (vector_clock.cpp
// compares only the proof).
func (s Signature) Dummy() bool { return s.Hash == [hashLen]byte{} }

// Signed is a cluster time with its signature.
type Signed struct {
	Time bson.Timestamp
	Signature
}

// AppendElement appends "$clusterTime": {clusterTime, signature: {hash, keyId}}, the shape
// mongod gossips out (a binData of subtype 0 and a long).
func AppendElement(dst []byte, s Signed) []byte {
	return AppendDoc(bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, Field), s)
}

// AppendDoc appends the value of the $clusterTime field alone.
func AppendDoc(dst []byte, s Signed) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendTimestampElement(dst, "clusterTime", s.Time.T, s.Time.I)
	sig, dst := bsoncore.AppendDocumentElementStart(dst, "signature")
	dst = bsoncore.AppendBinaryElement(dst, "hash", bson.TypeBinaryGeneric, s.Hash[:])
	dst = bsoncore.AppendInt64Element(dst, "keyId", s.KeyID)
	dst, _ = bsoncore.AppendDocumentEnd(dst, sig)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// logicalTime prints a time as mongod's LogicalTime::toString does in its messages.
func logicalTime(ts bson.Timestamp) string {
	return fmt.Sprintf("{ ts: Timestamp(%d, %d) }", ts.T, ts.I)
}

// key orders timestamps as one number, seconds first.
func key(ts bson.Timestamp) uint64 { return uint64(ts.T)<<32 | uint64(ts.I) }
