package wire

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// nestedDoc is {k: {k: ... {} ...}} with levels documents below the top level (every other one
// an array {0: ...} when array is set), written in one pass so a hostile depth is cheap to build.
func nestedDoc(levels int, array bool) bsoncore.Document {
	const elemHead = 1 + 2 // type byte, one-letter key and its NUL
	total := 5 + levels*(4+elemHead+1)
	doc := make([]byte, 0, total)
	for i := 0; i <= levels; i++ {
		size := total - i*(4+elemHead)
		size -= i // the closing NULs of the levels outside this one
		doc = binary.LittleEndian.AppendUint32(doc, uint32(size))
		if i == levels {
			break
		}
		if array && i%2 == 1 {
			doc = append(doc, byte(bsoncore.TypeArray), '0', 0)
		} else {
			doc = append(doc, byte(bsoncore.TypeEmbeddedDocument), 'k', 0)
		}
	}
	for i := 0; i <= levels; i++ {
		doc = append(doc, 0)
	}
	return doc
}

// commandWith is {ping: 1, deep: <d>, $db: "admin"}: d adds one level.
func commandWith(d bsoncore.Document) bsoncore.Document {
	return bsoncore.BuildDocument(nil,
		bsoncore.AppendInt32Element(nil, "ping", 1),
		bsoncore.AppendDocumentElement(nil, "deep", d),
		bsoncore.AppendStringElement(nil, "$db", "admin"))
}

func codeOf(t *testing.T, err error) mongoerr.Code {
	t.Helper()
	var me *mongoerr.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v carries no MongoDB code", err)
	}
	return me.Code
}

func TestDepthLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		levels int // below the top level of the body
		array  bool
		ok     bool
	}{
		{"at the limit", MaxDepth, false, true},
		{"arrays at the limit", MaxDepth, true, true},
		{"one past", MaxDepth + 1, false, false},
		{"arrays one past", MaxDepth + 1, true, false},
		{"hostile", 1_000_000, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := commandWith(nestedDoc(tc.levels-1, tc.array))
			_, err := ParseMsg(AppendMsg(nil, 1, 0, 0, body))
			if tc.ok {
				if err != nil {
					t.Fatalf("depth %d refused: %v", tc.levels, err)
				}
				return
			}
			if code := codeOf(t, err); code != mongoerr.Overflow {
				t.Fatalf("depth %d: code %d, want Overflow(15)", tc.levels, code)
			}
			if !strings.Contains(err.Error(), "BSONObj exceeds maximum nested object depth") {
				t.Fatalf("message %q", err)
			}
			if ClosesConnection(err) {
				t.Fatal("a too deep body closes the connection; mongod answers it")
			}
		})
	}
}

func TestDepthLimitInSequence(t *testing.T) {
	deep := nestedDoc(MaxDepth+1, false)
	msg := AppendMsg(nil, 1, 0, 0, insertBody(), Sequence{Identifier: "documents", Raw: deep})
	if _, err := ParseMsg(msg); codeOf(t, err) != mongoerr.Overflow {
		t.Fatalf("a too deep sequence document: %v", err)
	}
	atLimit := nestedDoc(MaxDepth, false)
	msg = AppendMsg(nil, 1, 0, 0, insertBody(), Sequence{Identifier: "documents", Raw: atLimit})
	if _, err := ParseMsg(msg); err != nil {
		t.Fatalf("a sequence document at the limit: %v", err)
	}
}

func TestDepthCodeWithScope(t *testing.T) {
	// mongod counts code with scope as two frames: its code and its scope.
	scoped := func(scopeLevels int) bsoncore.Document {
		cws := bsoncore.AppendCodeWithScopeElement(nil, "f", "return 1", nestedDoc(scopeLevels, false))
		return bsoncore.BuildDocument(nil, cws)
	}
	// deep (1) + f's two frames + scope nesting.
	if _, err := ParseMsg(AppendMsg(nil, 1, 0, 0, commandWith(scoped(MaxDepth-3)))); err != nil {
		t.Fatalf("code with scope at the limit: %v", err)
	}
	if _, err := ParseMsg(AppendMsg(nil, 1, 0, 0, commandWith(scoped(MaxDepth-2)))); codeOf(t, err) != mongoerr.Overflow {
		t.Fatalf("code with scope past the limit: %v", err)
	}
}

func TestSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		size int
		ok   bool
	}{{MaxDocSize, true}, {MaxDocSize + 1, false}, {MaxFrameLen - 1000, false}} {
		body := sized(tc.size)
		_, err := ParseMsg(AppendMsg(nil, 1, 0, 0, body))
		if tc.ok {
			if err != nil {
				t.Fatalf("%d bytes refused: %v", tc.size, err)
			}
			continue
		}
		if codeOf(t, err) != mongoerr.BSONObjectTooLarge || ClosesConnection(err) {
			t.Fatalf("%d bytes: %v", tc.size, err)
		}
		if !strings.Contains(err.Error(), "is invalid. Size must be between 0 and 16793600(16MB) First element: insert") {
			t.Fatalf("message %q", err)
		}
	}
	// A document sequence may carry more than 16 MB in all, but no one document over the limit.
	seq := append(append([]byte(nil), sized(MaxDocSize/2)...), sized(MaxDocSize/2)...)
	if _, err := ParseMsg(AppendMsg(nil, 1, 0, 0, insertBody(), Sequence{Identifier: "documents", Raw: seq})); err != nil {
		t.Fatalf("two large sequence documents: %v", err)
	}
	seq = sized(MaxDocSize + 1)
	_, err := ParseMsg(AppendMsg(nil, 1, 0, 0, insertBody(), Sequence{Identifier: "documents", Raw: seq}))
	if codeOf(t, err) != mongoerr.BSONObjectTooLarge {
		t.Fatalf("an oversized sequence document: %v", err)
	}
}

// sized is {insert: "c", pad: <binary>, $db: "d"} of exactly n bytes.
func sized(n int) bsoncore.Document {
	head := bsoncore.AppendStringElement(nil, "insert", "c")
	tail := bsoncore.AppendStringElement(nil, "$db", "d")
	// document: 4 length + head + binary element (1 type + "pad\0" + 4 len + 1 subtype + data) + tail + 1
	fixed := 4 + len(head) + 1 + 4 + 4 + 1 + len(tail) + 1
	pad := make([]byte, n-fixed)
	return bsoncore.BuildDocument(nil, head, bsoncore.AppendBinaryElement(nil, "pad", 0, pad), tail)
}

func TestLimitsDoNotAllocate(t *testing.T) {
	body := findBody()
	if n := testing.AllocsPerRun(100, func() { _ = checkLimits(body) }); n != 0 {
		t.Fatalf("checkLimits allocates %v times", n)
	}
}

// TestNestedMalformedRefused: bytes that do not parse deep inside a body are refused with
// InvalidBSON on arrival, where bsoncore's Validate looks only at the top level's elements.
func TestNestedMalformedRefused(t *testing.T) {
	inner := bsoncore.NewDocumentBuilder().AppendInt32("x", 1).Build()
	broken := func(mutate func(d []byte)) bsoncore.Document {
		d := append([]byte(nil), inner...)
		mutate(d)
		arr := bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: d})
		return bsoncore.NewDocumentBuilder().AppendString("aggregate", "c").AppendArray("pipeline", arr).
			AppendString("$db", "test").Build()
	}
	for name, body := range map[string]bsoncore.Document{
		"an unknown element type":    broken(func(d []byte) { d[4] = '0' }),
		"a missing final null":       broken(func(d []byte) { d[len(d)-1] = 1 }),
		"a value cut short":          broken(func(d []byte) { d[4] = byte(bsoncore.TypeInt64) }),
		"a key without its null end": broken(func(d []byte) { d[6] = 'y' }),
	} {
		if err := body.Validate(); err != nil {
			t.Fatalf("%s: bsoncore's Validate caught it (%v); the test needs a case it misses", name, err)
		}
		_, err := ParseMsg(AppendMsg(nil, 1, 0, 0, body))
		if code := codeOf(t, err); code != mongoerr.InvalidBSON {
			t.Errorf("%s: code %d, want InvalidBSON(22)", name, code)
		}
	}
}
