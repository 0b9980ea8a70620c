package sessionid

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// opInfoCase is a command body ParseOpInfo sees on every forwarded command.
type opInfoCase struct {
	name string
	body bson.D
	want OpInfo
}

// findBody is a typical find: the session fields, when present, sit among ordinary fields.
func findBody(session ...bson.E) bson.D {
	body := bson.D{
		e("find", "orders"),
		e("filter", bson.D{e("status", "open"), e("qty", bson.D{e("$gt", int32(5))})}),
		e("sort", bson.D{e("created", int32(-1))}),
		e("limit", int32(20)),
	}
	body = append(body, session...)
	return append(body, e("$db", "shop"), e("$clusterTime", bson.D{e("clusterTime", bson.Timestamp{T: 1, I: 1})}))
}

// opInfoCases are the success paths that must not allocate (TestParseOpInfoAllocs) and that the
// benchmark measures.
func opInfoCases() []opInfoCase {
	own := ID{ID: testUUID, UID: alice}
	return []opInfoCase{
		{"none", findBody(), OpInfo{}},
		{"lsid", findBody(e("lsid", lsidDoc())), OpInfo{HasLSID: true, LSID: own}},
		{"lsid_uid", findBody(e("lsid", lsidDoc(e("uid", uidBin(alice))))), OpInfo{HasLSID: true, LSID: own}},
		{"retryable_write", findBody(e("lsid", lsidDoc()), e("txnNumber", int64(7))),
			OpInfo{HasLSID: true, LSID: own, HasTxnNumber: true, TxnNumber: 7}},
		{"transaction", findBody(e("lsid", lsidDoc()), e("txnNumber", int64(7)), e("autocommit", false), e("startTransaction", true)),
			OpInfo{HasLSID: true, LSID: own, HasTxnNumber: true, TxnNumber: 7, Autocommit: true, StartTransaction: true}},
	}
}

func BenchmarkParseOpInfo(b *testing.B) {
	for _, tc := range opInfoCases() {
		body := doc(b, tc.body)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseOpInfo(body, alice, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseSessionLists keeps an eye on the less frequent session commands, which share the
// IDL helpers with ParseOpInfo.
func BenchmarkParseSessionLists(b *testing.B) {
	ids := bson.A{lsidDoc(), bson.D{e("id", uuidBin(testUUID2)), e("uid", uidBin(alice))}}
	cases := []struct {
		name  string
		body  bsoncore.Document
		parse func(bsoncore.Document) error
	}{
		{"endSessions", doc(b, bson.D{e("endSessions", ids), e("$db", "admin")}), func(d bsoncore.Document) error {
			_, err := ParseList(d, alice, false)
			return err
		}},
		{"killAllSessionsByPattern", doc(b, bson.D{e("killAllSessionsByPattern", bson.A{
			bson.D{e("lsid", lsidDoc(e("uid", uidBin(alice))))},
			bson.D{e("uid", uidBin(bob)), e("users", bson.A{bson.D{e("user", "bob"), e("db", "test")}})},
		}), e("$db", "admin")}), func(d bsoncore.Document) error {
			_, err := ParseKill(d, alice, true)
			return err
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.parse(tc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
