package sessionid

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestNoAuthUID(t *testing.T) {
	const want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := hex.EncodeToString(NoAuthUID[:]); got != want {
		t.Fatalf("NoAuthUID = %s, want %s", got, want)
	}
}

func TestUserDigest(t *testing.T) {
	tests := []struct {
		name     string
		user, db string
		want     UID
		code     mongoerr.Code
		msg      string
	}{
		{name: "user at db", user: "alice", db: "admin", want: sha256.Sum256([]byte("alice@admin"))},
		{name: "both empty is no-auth", want: NoAuthUID},
		{name: "empty db still hashed", user: "u", want: sha256.Sum256([]byte("u@"))},
		{name: "full name 9999 bytes", user: strings.Repeat("u", 9993), db: "admin",
			want: sha256.Sum256([]byte(strings.Repeat("u", 9993) + "@admin"))},
		{name: "full name 10000 bytes", user: strings.Repeat("u", 9994), db: "admin",
			code: mongoerr.BadValue, msg: "Username too long to use with logical sessions"},
		{name: "user alone 10000 bytes", user: strings.Repeat("u", 10000),
			code: mongoerr.BadValue, msg: "Username too long to use with logical sessions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UserDigest(tt.user, tt.db)
			wantErr(t, err, tt.code, tt.msg)
			if got != tt.want {
				t.Fatalf("digest = %x, want %x", got, tt.want)
			}
		})
	}
}

func TestNewID(t *testing.T) {
	seen := map[[16]byte]bool{}
	for range 100 {
		id := NewID(alice)
		if id.UID != alice {
			t.Fatalf("uid = %x, want %x", id.UID, alice)
		}
		if v := id.ID[6] >> 4; v != 4 {
			t.Fatalf("version %d, want 4", v)
		}
		if id.ID[8]&0xc0 != 0x80 {
			t.Fatalf("variant bits %x, want RFC 4122", id.ID[8])
		}
		if seen[id.ID] {
			t.Fatalf("duplicate id %x", id.ID)
		}
		seen[id.ID] = true
	}
}

func TestIDDocuments(t *testing.T) {
	id := ID{ID: testUUID, UID: alice}
	tests := []struct {
		name string
		got  bsoncore.Document
		want bson.D
	}{
		{"full", id.AppendDoc(nil), bson.D{{Key: "id", Value: uuidBin(testUUID)}, {Key: "uid", Value: uidBin(alice)}}},
		{"client", id.AppendClientDoc(nil), bson.D{{Key: "id", Value: uuidBin(testUUID)}}},
		{"appends", id.AppendClientDoc([]byte{1, 2})[2:], bson.D{{Key: "id", Value: uuidBin(testUUID)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.got.Validate(); err != nil {
				t.Fatalf("invalid document: %v", err)
			}
			if want := doc(t, tt.want); string(want) != string(tt.got) {
				t.Fatalf("got %v, want %v", tt.got, want)
			}
		})
	}
}

func TestIDString(t *testing.T) {
	id := ID{ID: testUUID, UID: NoAuthUID}
	const want = "0a010203-0405-4607-8809-0a0b0c0d0e0f - 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= -  - "
	if got := id.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
