package wire

import (
	"encoding/binary"
	"hash/crc32"

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

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sequence is a kind-1 section: an identifier (e.g. "documents") and its documents, back to back.
type Sequence struct {
	Identifier string
	Raw        []byte
}

// Docs splits the sequence into its documents.
func (s Sequence) Docs() ([]bsoncore.Document, error) {
	var docs []bsoncore.Document
	rem := s.Raw
	for len(rem) > 0 {
		doc, rest, ok := bsoncore.ReadDocument(rem)
		if !ok {
			return nil, frameErr("malformed document in sequence %q", s.Identifier)
		}
		if err := doc.Validate(); err != nil {
			return nil, frameErr("invalid document in sequence %q: %v", s.Identifier, err)
		}
		docs = append(docs, doc)
		rem = rest
	}
	return docs, nil
}

// Msg is a view over an OP_MSG frame.
type Msg struct {
	Header    Header
	Flags     wiremessage.MsgFlag
	Body      bsoncore.Document
	Sequences []Sequence
}

// ParseMsg parses and validates an OP_MSG frame: flags, exactly one body section, any number of
// document sequences, and the CRC-32C checksum when present. Errors wrap ErrBadFrame.
func ParseMsg(frame []byte) (Msg, error) {
	h, err := ParseHeader(frame)
	if err != nil {
		return Msg{}, err
	}
	if h.OpCode != OpMsg {
		return Msg{}, frameErr("opcode %d is not OP_MSG", h.OpCode)
	}
	flags, rem, ok := wiremessage.ReadMsgFlags(frame[HeaderLen:])
	if !ok {
		return Msg{}, frameErr("OP_MSG too short for flags")
	}
	if unknown := uint32(flags) & 0xffff &^ knownRequiredFlags; unknown != 0 {
		return Msg{}, frameErr("OP_MSG has unknown required flag bits %#x", unknown)
	}
	if flags&ChecksumPresent != 0 {
		if len(rem) < 4 {
			return Msg{}, frameErr("OP_MSG too short for checksum")
		}
		body := frame[:len(frame)-4]
		want := binary.LittleEndian.Uint32(frame[len(frame)-4:])
		if got := crc32.Checksum(body, castagnoli); got != want {
			return Msg{}, frameErr("OP_MSG checksum mismatch")
		}
		rem = rem[:len(rem)-4]
	}
	m := Msg{Header: h, Flags: flags}
	for len(rem) > 0 {
		var stype wiremessage.SectionType
		stype, rem, _ = wiremessage.ReadMsgSectionType(rem)
		switch stype {
		case wiremessage.SingleDocument:
			if m.Body != nil {
				return Msg{}, frameErr("OP_MSG has more than one body section")
			}
			doc, rest, ok := bsoncore.ReadDocument(rem)
			if !ok {
				return Msg{}, frameErr("OP_MSG body section is malformed")
			}
			if err := doc.Validate(); err != nil {
				return Msg{}, frameErr("OP_MSG body is invalid BSON: %v", err)
			}
			m.Body, rem = doc, rest
		case wiremessage.DocumentSequence:
			id, data, rest, ok := wiremessage.ReadMsgSectionRawDocumentSequence(rem)
			if !ok {
				return Msg{}, frameErr("OP_MSG document sequence is malformed")
			}
			m.Sequences = append(m.Sequences, Sequence{Identifier: id, Raw: data})
			rem = rest
		default:
			return Msg{}, frameErr("OP_MSG has unknown section kind %d", stype)
		}
	}
	if m.Body == nil {
		return Msg{}, frameErr("OP_MSG has no body section")
	}
	return m, nil
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
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.DocumentSequence)
	size := 4 + len(s.Identifier) + 1 + len(s.Raw)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(size))
	dst = append(dst, s.Identifier...)
	dst = append(dst, 0)
	return append(dst, s.Raw...)
}

// AddChecksum sets checksumPresent on a whole OP_MSG frame and appends its CRC-32C.
func AddChecksum(frame []byte) []byte {
	flags := binary.LittleEndian.Uint32(frame[HeaderLen:])
	binary.LittleEndian.PutUint32(frame[HeaderLen:], flags|uint32(ChecksumPresent))
	frame = binary.LittleEndian.AppendUint32(frame, 0)
	SetLength(frame)
	sum := crc32.Checksum(frame[:len(frame)-4], castagnoli)
	binary.LittleEndian.PutUint32(frame[len(frame)-4:], sum)
	return frame
}

// CommandName is the first key of a command body: what names the command.
func CommandName(body bsoncore.Document) string {
	el, err := body.IndexErr(0)
	if err != nil {
		return ""
	}
	return el.Key()
}
