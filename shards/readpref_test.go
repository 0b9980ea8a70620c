package shards

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/address"
	"go.mongodb.org/mongo-driver/v2/tag"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/description"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestReadPrefFrom(t *testing.T) {
	rp := func(v any) bson.D { return bson.D{{Key: "find", Value: "c"}, {Key: "$readPreference", Value: v}} }
	dc := func(kv ...string) tag.Set {
		var s tag.Set
		for i := 0; i < len(kv); i += 2 {
			s = append(s, tag.Tag{Name: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name    string
		body    bson.D
		want    ReadPref
		code    mongoerr.Code // 0: success
		wantMsg string
	}{
		{name: "absent", body: bson.D{{Key: "find", Value: "c"}}, want: Primary()},
		{name: "primary", body: rp(bson.D{{Key: "mode", Value: "primary"}}), want: Primary()},
		{name: "primaryPreferred", body: rp(bson.D{{Key: "mode", Value: "primaryPreferred"}}), want: ReadPref{Mode: ModePrimaryPreferred}},
		{name: "secondary", body: rp(bson.D{{Key: "mode", Value: "secondary"}}), want: ReadPref{Mode: ModeSecondary}},
		{name: "secondaryPreferred", body: rp(bson.D{{Key: "mode", Value: "secondaryPreferred"}}), want: ReadPref{Mode: ModeSecondaryPreferred}},
		{name: "nearest", body: rp(bson.D{{Key: "mode", Value: "nearest"}}), want: ReadPref{Mode: ModeNearest}},
		{name: "tags", body: rp(bson.D{{Key: "mode", Value: "secondary"},
			{Key: "tags", Value: bson.A{bson.D{{Key: "dc", Value: "east"}, {Key: "rack", Value: "1"}}, bson.D{}}}}),
			want: ReadPref{Mode: ModeSecondary, Tags: []tag.Set{dc("dc", "east", "rack", "1"), {}}}},
		{name: "wildcard tags", body: rp(bson.D{{Key: "mode", Value: "nearest"}, {Key: "tags", Value: bson.A{bson.D{}}}}),
			want: ReadPref{Mode: ModeNearest}},
		{name: "empty tags on primary", body: rp(bson.D{{Key: "mode", Value: "primary"}, {Key: "tags", Value: bson.A{}}}),
			want: Primary()},
		{name: "wildcard tags on primary", body: rp(bson.D{{Key: "mode", Value: "primary"}, {Key: "tags", Value: bson.A{bson.D{}}}}),
			want: Primary()},
		{name: "maxStaleness int", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "maxStalenessSeconds", Value: int32(120)}}),
			want: ReadPref{Mode: ModeSecondary, MaxStaleness: 120 * time.Second}},
		{name: "maxStaleness double", body: rp(bson.D{{Key: "mode", Value: "nearest"}, {Key: "maxStalenessSeconds", Value: 90.0}}),
			want: ReadPref{Mode: ModeNearest, MaxStaleness: 90 * time.Second}},
		{name: "maxStaleness decimal", body: rp(bson.D{{Key: "mode", Value: "nearest"}, {Key: "maxStalenessSeconds", Value: mustDecimal("100")}}),
			want: ReadPref{Mode: ModeNearest, MaxStaleness: 100 * time.Second}},
		{name: "maxStaleness zero", body: rp(bson.D{{Key: "mode", Value: "primary"}, {Key: "maxStalenessSeconds", Value: 0}}),
			want: Primary()},
		{name: "maxStaleness huge", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "maxStalenessSeconds", Value: int64(1) << 40}}),
			want: ReadPref{Mode: ModeSecondary, MaxStaleness: math.MaxInt64}},
		{name: "hedge disabled on primary", body: rp(bson.D{{Key: "mode", Value: "primary"}, {Key: "hedge", Value: bson.D{{Key: "enabled", Value: false}}}}),
			want: Primary()},
		{name: "hedge on nearest", body: rp(bson.D{{Key: "mode", Value: "nearest"}, {Key: "hedge", Value: bson.D{}}}),
			want: ReadPref{Mode: ModeNearest}},

		{name: "not a document", body: rp("secondary"), code: mongoerr.TypeMismatch,
			wantMsg: "$readPreference has incorrect type: expected object but got string"},
		{name: "no mode", body: rp(bson.D{}), code: mongoerr.NoSuchKey, wantMsg: `Missing expected field "mode"`},
		{name: "mode type", body: rp(bson.D{{Key: "mode", Value: 1}}), code: mongoerr.TypeMismatch,
			wantMsg: `"mode" had the wrong type. Expected string, found int`},
		{name: "bad mode", body: rp(bson.D{{Key: "mode", Value: "Primary"}}), code: mongoerr.BadValue,
			wantMsg: "Could not parse $readPreference mode 'Primary'. Only the modes 'primary', 'primaryPreferred', " +
				"'secondary', 'secondaryPreferred', and 'nearest' are supported. :: caused by :: " +
				"Enumeration value 'Primary' for field 'mode' is not a valid value."},
		{name: "hedge type", body: rp(bson.D{{Key: "mode", Value: "nearest"}, {Key: "hedge", Value: true}}), code: mongoerr.TypeMismatch,
			wantMsg: "hedge field must be of type object if provided; found hedge: true"},
		{name: "hedge enabled type", body: rp(bson.D{{Key: "mode", Value: "nearest"}, {Key: "hedge", Value: bson.D{{Key: "enabled", Value: 1}}}}),
			code: mongoerr.TypeMismatch, wantMsg: "BSON field 'hedge.enabled' is the wrong type 'int', expected type 'bool'"},
		{name: "hedge on primary", body: rp(bson.D{{Key: "mode", Value: "primary"}, {Key: "hedge", Value: bson.D{}}}),
			code: mongoerr.InvalidOptions, wantMsg: `cannot enable hedging for $readPreference mode "primaryOnly"`},
		{name: "tags type", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "tags", Value: bson.D{}}}),
			code: mongoerr.TypeMismatch, wantMsg: `"tags" had the wrong type. Expected array, found object`},
		{name: "tags on primary", body: rp(bson.D{{Key: "mode", Value: "primary"}, {Key: "tags", Value: bson.A{bson.D{{Key: "dc", Value: "e"}}}}}),
			code: mongoerr.BadValue, wantMsg: "Only empty tags are allowed with primary read preference"},
		{name: "tag set type", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "tags", Value: bson.A{"dc"}}}),
			code: mongoerr.TypeMismatch, wantMsg: `"tags.0" had the wrong type. Expected object, found string`},
		{name: "tag value type", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "tags", Value: bson.A{bson.D{}, bson.D{{Key: "n", Value: 1}}}}}),
			code: mongoerr.TypeMismatch, wantMsg: `"tags.1.n" had the wrong type. Expected string, found int`},
		{name: "maxStaleness type", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "maxStalenessSeconds", Value: "90"}}),
			code: mongoerr.TypeMismatch, wantMsg: `Expected field "maxStalenessSeconds" to have numeric type, but found string`},
		{name: "maxStaleness fraction", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "maxStalenessSeconds", Value: 90.5}}),
			code: mongoerr.BadValue, wantMsg: `Expected field "maxStalenessSeconds" to have a value exactly representable as a 64-bit integer, but found maxStalenessSeconds: 90.5`},
		{name: "maxStaleness NaN", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "maxStalenessSeconds", Value: math.NaN()}}),
			code: mongoerr.BadValue},
		{name: "maxStaleness too big", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "maxStalenessSeconds", Value: 1e300}}),
			code: mongoerr.BadValue},
		{name: "maxStaleness max", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "maxStalenessSeconds", Value: int64(math.MaxInt64)}}),
			code: mongoerr.BadValue, wantMsg: "maxStalenessSeconds value can not exceed 9223372036854775807"},
		{name: "maxStaleness negative", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "maxStalenessSeconds", Value: -1}}),
			code: mongoerr.BadValue, wantMsg: "maxStalenessSeconds must be a non-negative integer"},
		{name: "maxStaleness small", body: rp(bson.D{{Key: "mode", Value: "secondary"}, {Key: "maxStalenessSeconds", Value: 89}}),
			code: mongoerr.MaxStalenessOutOfRange, wantMsg: "maxStalenessSeconds value can not be less than 90"},
		{name: "maxStaleness on primary", body: rp(bson.D{{Key: "mode", Value: "primary"}, {Key: "maxStalenessSeconds", Value: 90}}),
			code: mongoerr.BadValue, wantMsg: "maxStalenessSeconds can not be set for the primary mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadPrefFrom(mustDoc(tc.body))
			if tc.code != 0 {
				var me *mongoerr.Error
				if !errors.As(err, &me) || me.Code != tc.code || tc.wantMsg != "" && me.Msg != tc.wantMsg {
					t.Fatalf("error %v, want (%s) %s", err, tc.code.Name(), tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != tc.want.Mode || got.MaxStaleness != tc.want.MaxStaleness ||
				!slices.EqualFunc(got.Tags, tc.want.Tags, func(a, b tag.Set) bool { return slices.Equal(a, b) }) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func mustDecimal(s string) bson.Decimal128 {
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestReadPrefString(t *testing.T) {
	tests := []struct {
		rp   ReadPref
		want string
	}{
		{Primary(), `{ mode: "primary" }`},
		{ReadPref{Mode: ModeSecondaryPreferred}, `{ mode: "secondaryPreferred" }`},
		{ReadPref{Mode: ModeSecondary, Tags: []tag.Set{{{Name: "dc", Value: "east"}, {Name: "rack", Value: "2"}}, {}},
			MaxStaleness: 120 * time.Second},
			`{ mode: "secondary", tags: [ { dc: "east", rack: "2" }, {} ], maxStalenessSeconds: 120 }`},
		{ReadPref{Mode: Mode(9)}, `{ mode: "Mode(9)" }`},
	}
	for _, tc := range tests {
		if got := tc.rp.String(); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestSelector(t *testing.T) {
	now := time.Now()
	srv := func(addr string, kind description.ServerKind, rtt time.Duration, tags ...string) description.Server {
		s := description.Server{Addr: address.Address(addr), Kind: kind, AverageRTT: rtt, AverageRTTSet: true,
			LastUpdateTime: now, LastWriteTime: now, HeartbeatInterval: 10 * time.Second}
		for i := 0; i < len(tags); i += 2 {
			s.Tags = append(s.Tags, tag.Tag{Name: tags[i], Value: tags[i+1]})
		}
		return s
	}
	p := srv("p:1", description.ServerKindRSPrimary, time.Millisecond, "dc", "east")
	s1 := srv("s1:1", description.ServerKindRSSecondary, 2*time.Millisecond, "dc", "east")
	s2 := srv("s2:1", description.ServerKindRSSecondary, 3*time.Millisecond, "dc", "west")
	far := srv("far:1", description.ServerKindRSSecondary, 100*time.Millisecond, "dc", "west")
	stale := srv("stale:1", description.ServerKindRSSecondary, 2*time.Millisecond, "dc", "east")
	stale.LastWriteTime = now.Add(-5 * time.Minute)
	arbiter := srv("arb:1", description.ServerKindRSArbiter, 0)
	all := []description.Server{p, s1, s2, far, stale, arbiter}
	secondaries := []description.Server{s1, s2, far, stale, arbiter}
	west := []tag.Set{{{Name: "dc", Value: "west"}}}

	tests := []struct {
		name  string
		rp    ReadPref
		cands []description.Server
		want  []string
	}{
		{"primary", Primary(), all, []string{"p:1"}},
		{"primary none", Primary(), secondaries, nil},
		{"primaryPreferred", ReadPref{Mode: ModePrimaryPreferred}, all, []string{"p:1"}},
		{"primaryPreferred fallback", ReadPref{Mode: ModePrimaryPreferred}, secondaries, []string{"s1:1", "s2:1", "stale:1"}},
		{"secondary latency window", ReadPref{Mode: ModeSecondary}, all, []string{"s1:1", "s2:1", "stale:1"}},
		{"secondary none", ReadPref{Mode: ModeSecondary}, []description.Server{p, arbiter}, nil},
		{"secondaryPreferred", ReadPref{Mode: ModeSecondaryPreferred}, all, []string{"s1:1", "s2:1", "stale:1"}},
		{"secondaryPreferred fallback", ReadPref{Mode: ModeSecondaryPreferred}, []description.Server{p, arbiter}, []string{"p:1"}},
		{"nearest", ReadPref{Mode: ModeNearest}, all, []string{"p:1", "s1:1", "s2:1", "stale:1"}},
		{"tags", ReadPref{Mode: ModeSecondary, Tags: west}, all, []string{"s2:1"}},
		{"tags beyond window", ReadPref{Mode: ModeSecondary, Tags: []tag.Set{{{Name: "dc", Value: "west"}}}},
			[]description.Server{p, far}, []string{"far:1"}},
		{"tag fallback", ReadPref{Mode: ModeSecondary, Tags: []tag.Set{{{Name: "dc", Value: "north"}}, {}}}, all,
			[]string{"s1:1", "s2:1", "stale:1"}},
		{"tags no match", ReadPref{Mode: ModeNearest, Tags: []tag.Set{{{Name: "dc", Value: "north"}}}}, all, nil},
		{"tags ignored for primaryPreferred primary", ReadPref{Mode: ModePrimaryPreferred, Tags: west}, all, []string{"p:1"}},
		{"maxStaleness with primary", ReadPref{Mode: ModeSecondary, MaxStaleness: 90 * time.Second}, all, []string{"s1:1", "s2:1"}},
		{"maxStaleness without primary", ReadPref{Mode: ModeSecondary, MaxStaleness: 90 * time.Second}, secondaries, []string{"s1:1", "s2:1"}},
		{"maxStaleness nearest keeps primary", ReadPref{Mode: ModeNearest, MaxStaleness: 90 * time.Second}, all, []string{"p:1", "s1:1", "s2:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cands := slices.Clone(tc.cands)
			got, err := selector{tc.rp}.SelectServer(description.Topology{}, cands)
			if err != nil {
				t.Fatal(err)
			}
			var addrs []string
			for _, s := range got {
				addrs = append(addrs, s.Addr.String())
			}
			if !slices.Equal(addrs, tc.want) {
				t.Errorf("selected %v, want %v", addrs, tc.want)
			}
		})
	}
}
