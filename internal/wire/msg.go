package wire

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// OP_MSG flag bits.
const (
	ChecksumPresent = wiremessage.ChecksumPresent
	MoreToCome      = wiremessage.MoreToCome
	ExhaustAllowed  = wiremessage.ExhaustAllowed
)

// Flag bits 0-15 are required: a receiver must reject any it does not know (OP_MSG spec).
const knownRequiredFlags = uint32(ChecksumPresent | MoreToCome)

// maxSequences is mongod's limit on kind-1 sections per message.
const maxSequences = 2

// Section kind 2 carries a multitenancy security token, which mongod refuses without
// multitenancy; the driver has no constant for it.
const sectionSecurityToken = 2

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sequence is a kind-1 section: an identifier (e.g. "documents") and its documents, back to back.
type Sequence struct {
	Identifier string
	Raw        []byte
}

// Docs splits the sequence into its documents.
func (s Sequence) Docs() ([]bsoncore.Document, error) {
	var docs []bsoncore.Document
	err := eachDoc(s.Raw, s.Identifier, func(d bsoncore.Document) { docs = append(docs, d) })
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// eachDoc validates the documents of a sequence, calling fn for each.
func eachDoc(raw []byte, identifier string, fn func(bsoncore.Document)) error {
	for len(raw) > 0 {
		doc, rest, ok := bsoncore.ReadDocument(raw)
		if !ok {
			return frameErr(mongoerr.InvalidBSON, "malformed document in sequence %q", identifier)
		}
		if err := checkLimits(doc); err != nil {
			return err
		}
		if fn != nil {
			fn(doc)
		}
		raw = rest
	}
	return nil
}

// Msg is a view over an OP_MSG frame.
type Msg struct {
	Header    Header
	Flags     wiremessage.MsgFlag
	Body      bsoncore.Document
	Sequences []Sequence
}

// ParseMsg parses and validates an OP_MSG frame as mongod does: flags, exactly one body section,
// at most two document sequences with distinct identifiers that the body does not also hold,
// every document valid BSON, and the CRC-32C checksum when present. Errors wrap ErrBadFrame.
// Without document sequences it allocates nothing.
func ParseMsg(frame []byte) (Msg, error) {
	h, err := ParseHeader(frame)
	if err != nil {
		return Msg{}, err
	}
	if h.OpCode != OpMsg {
		return Msg{}, frameErr(mongoerr.ProtocolError, "opcode %d is not OP_MSG", h.OpCode)
	}
	flags, rem, ok := wiremessage.ReadMsgFlags(frame[HeaderLen:])
	if !ok {
		return Msg{}, frameErr(mongoerr.ProtocolError, "OP_MSG too short for flags")
	}
	if uint32(flags)&0xffff&^knownRequiredFlags != 0 {
		return Msg{}, frameErr(mongoerr.IllegalOpMsgFlag, "Message contains illegal flags value: Ob%032b", uint32(flags))
	}
	if flags&ChecksumPresent != 0 {
		if len(rem) <= 4 {
			return Msg{}, frameErr(51251, "Invalid message size for an OpMsg containing a checksum")
		}
		if !checksumValid(frame) {
			return Msg{}, frameErr(mongoerr.ChecksumMismatch, "OP_MSG checksum does not match contents")
		}
		rem = rem[:len(rem)-4]
	}
	m := Msg{Header: h, Flags: flags}
	for len(rem) > 0 && err == nil {
		kind := rem[0]
		switch wiremessage.SectionType(kind) {
		case wiremessage.SingleDocument:
			rem, err = m.readBody(rem[1:])
		case wiremessage.DocumentSequence:
			rem, err = m.readSequence(rem[1:])
		case sectionSecurityToken:
			err = frameErr(mongoerr.Unauthorized, "Unsupported Security Token provided")
		default:
			err = frameErr(40432, "Unknown section kind %d", kind)
		}
	}
	if err != nil {
		return Msg{}, err
	}
	if m.Body == nil {
		return Msg{}, frameErr(40587, "OP_MSG messages must have a body")
	}
	for _, s := range m.Sequences {
		if hasPath(m.Body, s.Identifier) {
			return Msg{}, frameErr(40433, "Duplicate field between body and document sequence %s", s.Identifier)
		}
	}
	return m, nil
}

// readBody reads a kind-0 section (after its kind byte) into m.Body.
func (m *Msg) readBody(src []byte) ([]byte, error) {
	if m.Body != nil {
		return nil, frameErr(40430, "Multiple body sections in message")
	}
	doc, rest, ok := bsoncore.ReadDocument(src)
	if !ok {
		return nil, frameErr(mongoerr.InvalidBSON, "OP_MSG body section is malformed")
	}
	if err := checkLimits(doc); err != nil {
		return nil, err
	}
	m.Body = doc
	return rest, nil
}

// readSequence reads a kind-1 section (after its kind byte) into m.Sequences. It splits the
// section as the driver's ReadMsgSectionRawDocumentSequence does, without allocating the
// identifier of the usual sequences.
func (m *Msg) readSequence(src []byte) ([]byte, error) {
	if len(m.Sequences) == maxSequences {
		return nil, frameErr(mongoerr.TooManyDocumentSequences, "Too many document sequences in OP_MSG")
	}
	if len(src) < 4 {
		return nil, errBadSequence()
	}
	size := int32(binary.LittleEndian.Uint32(src))
	if size < 4 || int(size) > len(src) {
		return nil, errBadSequence()
	}
	section, rest := src[4:size], src[size:]
	nul := bytes.IndexByte(section, 0)
	if nul < 0 {
		return nil, errBadSequence()
	}
	id, data := intern(section[:nul], sequenceNames), section[nul+1:]
	for _, s := range m.Sequences {
		if s.Identifier == id {
			return nil, frameErr(40431, "Duplicate document sequence: %s", id)
		}
	}
	if err := eachDoc(data, id, nil); err != nil {
		return nil, err
	}
	if m.Sequences == nil {
		m.Sequences = make([]Sequence, 0, maxSequences)
	}
	m.Sequences = append(m.Sequences, Sequence{Identifier: id, Raw: data})
	return rest, nil
}

func errBadSequence() error {
	return frameErr(mongoerr.ProtocolError, "OP_MSG document sequence is malformed")
}

// sequenceNames are the identifiers of the document sequences drivers send.
var sequenceNames = known("documents", "updates", "deletes", "ops", "nsInfo")

// commandNames are the commands a router sees most often.
var commandNames = known(
	"find", "insert", "update", "delete", "findAndModify", "aggregate", "getMore", "killCursors",
	"count", "distinct", "bulkWrite", "hello", "isMaster", "ismaster", "ping", "buildInfo",
	"saslStart", "saslContinue", "startSession", "endSessions", "refreshSessions",
	"killSessions", "killAllSessions", "killAllSessionsByPattern", "commitTransaction",
	"abortTransaction", "listDatabases", "listCollections", "listIndexes",
)

func known(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = n
	}
	return m
}

// intern returns the string equal to b from names, or a copy of b: looking string(b) up does
// not allocate, converting it does.
func intern(b []byte, names map[string]string) string {
	if s, ok := names[string(b)]; ok {
		return s
	}
	return string(b)
}

// hasPath reports whether doc holds the dotted path, counting an array met on the way as a hit
// (mongod's extractElementAtPathOrArrayAlongPath).
func hasPath(doc bsoncore.Document, path string) bool {
	for {
		key, rest, dotted := strings.Cut(path, ".")
		v, err := doc.LookupErr(key)
		if err != nil {
			return false
		}
		if !dotted || v.Type == bsoncore.TypeArray {
			return true
		}
		if doc, dotted = v.DocumentOK(); !dotted {
			return false
		}
		path = rest
	}
}

// AppendMsg appends a whole OP_MSG frame (without checksum) to dst.
func AppendMsg(dst []byte, requestID, responseTo int32, flags wiremessage.MsgFlag, body bsoncore.Document, seqs ...Sequence) []byte {
	start := len(dst)
	dst = wiremessage.AppendHeader(dst, 0, requestID, responseTo, OpMsg)
	dst = wiremessage.AppendMsgFlags(dst, flags&^ChecksumPresent)
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
	dst = append(dst, body...)
	for _, s := range seqs {
		dst = AppendSequence(dst, s)
	}
	SetLength(dst[start:])
	return dst
}

// AppendSequence appends one kind-1 section.
func AppendSequence(dst []byte, s Sequence) []byte {
	return append(AppendSequenceHead(dst, s), s.Raw...)
}

// AppendSequenceHead appends what precedes a sequence's documents in its section: the kind, the
// size and the identifier.
func AppendSequenceHead(dst []byte, s Sequence) []byte {
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.DocumentSequence)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(SequenceSize(s)))
	dst = append(dst, s.Identifier...)
	return append(dst, 0)
}

// SequenceSize is the size field of a sequence's section: itself, the identifier and the
// documents.
func SequenceSize(s Sequence) int { return 4 + len(s.Identifier) + 1 + len(s.Raw) }

// AppendMsgHead appends what precedes the body of an OP_MSG of length bytes in all: the header,
// the flags and the body's section kind.
func AppendMsgHead(dst []byte, length int, requestID int32, flags wiremessage.MsgFlag) []byte {
	dst = wiremessage.AppendHeader(dst, int32(length), requestID, 0, OpMsg)
	dst = wiremessage.AppendMsgFlags(dst, flags)
	return wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
}

// MsgLength is the length of an OP_MSG (without checksum) carrying body and seqs.
func MsgLength(body []byte, seqs []Sequence) int {
	n := HeaderLen + 4 + 1 + len(body)
	for _, s := range seqs {
		n += 1 + SequenceSize(s)
	}
	return n
}

// AddChecksum sets checksumPresent on a whole OP_MSG frame and appends its CRC-32C. The frame
// must not end with a checksum already (one whose last 4 checksum bytes were cut off is fine:
// that is how a rewritten frame gets a fresh one).
func AddChecksum(frame []byte) []byte {
	flags := binary.LittleEndian.Uint32(frame[HeaderLen:])
	binary.LittleEndian.PutUint32(frame[HeaderLen:], flags|uint32(ChecksumPresent))
	frame = binary.LittleEndian.AppendUint32(frame, 0)
	SetLength(frame)
	putChecksum(frame)
	return frame
}

// hasChecksum reports whether frame is an OP_MSG with checksumPresent and room for a checksum.
func hasChecksum(frame []byte) bool {
	return len(frame) >= HeaderLen+8 &&
		wiremessage.OpCode(binary.LittleEndian.Uint32(frame[12:])) == OpMsg &&
		binary.LittleEndian.Uint32(frame[HeaderLen:])&uint32(ChecksumPresent) != 0
}

func checksumValid(frame []byte) bool {
	n := len(frame) - 4
	return crc32.Checksum(frame[:n], castagnoli) == binary.LittleEndian.Uint32(frame[n:])
}

func putChecksum(frame []byte) {
	n := len(frame) - 4
	binary.LittleEndian.PutUint32(frame[n:], crc32.Checksum(frame[:n], castagnoli))
}

// refreshChecksum keeps the checksum of a rewritten OP_MSG valid.
func refreshChecksum(frame []byte) {
	if hasChecksum(frame) {
		putChecksum(frame)
	}
}

// CommandName is the first key of a command body: what names the command. Common names come
// without an allocation.
func CommandName(body bsoncore.Document) string {
	el, err := body.IndexErr(0)
	if err != nil {
		return ""
	}
	return intern(el.KeyBytes(), commandNames)
}
