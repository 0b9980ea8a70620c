package sessionid

import (
	"errors"
	"maps"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Seeds live in testdata/fuzz/<FuzzName>/ (valid commands, each error class of the reference).

// checkFuzzErr: bad input must yield a MongoDB-shaped error, never a panic or a bare error.
func checkFuzzErr(t *testing.T, err error) {
	var me *mongoerr.Error
	if !errors.As(err, &me) || me.Code == 0 || me.Msg == "" {
		t.Fatalf("not a MongoDB error: %T %v", err, err)
	}
}

func FuzzParseOpInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, impersonate bool) {
		info, err := ParseOpInfo(body, alice, impersonate)
		if err != nil {
			checkFuzzErr(t, err)
			return
		}
		// The combination rules of §6.2 hold for anything accepted.
		switch {
		case info.StartTransaction && !info.Autocommit,
			info.Autocommit && !info.HasTxnNumber,
			info.HasTxnNumber && !info.HasLSID,
			info.TxnNumber < 0,
			!impersonate && info.HasLSID && info.LSID.UID != alice:
			t.Fatalf("accepted an invalid combination: %+v", info)
		}
	})
}

func FuzzParseKill(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, authEnabled bool) {
		if _, err := ParseList(body, alice, authEnabled); err != nil {
			checkFuzzErr(t, err)
		}
		if elems, err := bsoncore.Document(body).Elements(); err == nil && len(elems) > 0 {
			if _, err := ParseListSpec("$listLocalSessions", elems[0].Value(), alice); err != nil {
				checkFuzzErr(t, err)
			}
		}
		p, err := ParseKill(body, alice, authEnabled)
		if err != nil {
			checkFuzzErr(t, err)
			return
		}
		// The command sent to the shards selects exactly what p selects.
		back, err := ParseKill(p.KillCommands(MaxKillBatch)[0], alice, true)
		if err != nil {
			t.Fatalf("own kill command rejected: %v", err)
		}
		if p.None() {
			if back.All || len(back.UIDs) != 0 || len(back.IDs) != 1 || !back.Matches(ID{}) {
				t.Fatalf("None encoded as %+v", back)
			}
			return
		}
		want := Patterns{All: p.All}
		if !p.All {
			want.UIDs = maps.Clone(p.UIDs)
			for id := range p.IDs {
				if _, covered := p.UIDs[id.UID]; !covered {
					want.addID(id)
				}
			}
		}
		if back.All != want.All || !maps.Equal(back.UIDs, want.UIDs) || !maps.Equal(back.IDs, want.IDs) {
			t.Fatalf("round trip: %+v became %+v", want, back)
		}
	})
}
