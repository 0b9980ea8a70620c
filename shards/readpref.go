package shards

import (
	"math"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/tag"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Mode is a read preference mode.
type Mode uint8

// The read preference modes, in the order mongod lists them.
const (
	ModePrimary Mode = iota
	ModePrimaryPreferred
	ModeSecondary
	ModeSecondaryPreferred
	ModeNearest
)

var modeNames = [...]string{"primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ReadPref chooses which member of a shard serves a command.
type ReadPref struct {
	Mode Mode
	// Tags are tag sets in order of preference; the first one that matches some eligible member
	// wins, and an empty set matches every member. Nil means any member. Never set for primary.
	Tags []tag.Set
	// MaxStaleness excludes secondaries estimated to lag further behind; 0 means no limit.
	MaxStaleness time.Duration
}

// Primary is the default read preference: the primary only.
func Primary() ReadPref { return ReadPref{} }

// String renders rp as mongos does in its error messages, e.g. { mode: "primary" }.
func (rp ReadPref) String() string {
	var b strings.Builder
	b.WriteString(`{ mode: "`)
	b.WriteString(rp.Mode.String())
	b.WriteByte('"')
	if len(rp.Tags) > 0 {
		b.WriteString(", tags: [ ")
		for i, set := range rp.Tags {
			if i > 0 {
				b.WriteString(", ")
			}
			if len(set) == 0 {
				b.WriteString("{}")
				continue
			}
			b.WriteString("{ ")
			for j, t := range set {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(t.Name)
				b.WriteString(": ")
				b.WriteString(strconv.Quote(t.Value))
			}
			b.WriteString(" }")
		}
		b.WriteString(" ]")
	}
	if rp.MaxStaleness > 0 {
		b.WriteString(", maxStalenessSeconds: ")
		b.WriteString(strconv.FormatInt(int64(rp.MaxStaleness/time.Second), 10))
	}
	b.WriteString(" }")
	return b.String()
}

// minMaxStaleness is the smallest maxStalenessSeconds mongod accepts: long enough for a
// heartbeat plus an idle write period to move lastWrite forward.
const minMaxStaleness = 90

// ReadPrefFrom reads a command's $readPreference (absent: primary) with mongod's rules and
// messages (ReadPreferenceSetting::fromInnerBSON). Errors are *mongoerr.Error.
func ReadPrefFrom(body bsoncore.Document) (ReadPref, error) {
	v, err := body.LookupErr("$readPreference")
	if err != nil {
		return Primary(), nil
	}
	doc, ok := v.DocumentOK()
	if !ok {
		return ReadPref{}, mongoerr.New(mongoerr.TypeMismatch,
			"$readPreference has incorrect type: expected object but got %s", mongoerr.TypeName(v.Type))
	}
	var rp ReadPref

	mode, err := doc.LookupErr("mode")
	if err != nil {
		return ReadPref{}, mongoerr.New(mongoerr.NoSuchKey, `Missing expected field "mode"`)
	}
	modeStr, ok := mode.StringValueOK()
	if !ok {
		return ReadPref{}, wrongType("mode", "string", mode.Type)
	}
	if rp.Mode, ok = parseMode(modeStr); !ok {
		return ReadPref{}, mongoerr.New(mongoerr.BadValue,
			"Could not parse $readPreference mode '%s'. Only the modes 'primary', 'primaryPreferred', "+
				"'secondary', 'secondaryPreferred', and 'nearest' are supported. :: caused by :: "+
				"Enumeration value '%s' for field 'mode' is not a valid value.", modeStr, modeStr)
	}

	if err := checkHedge(doc, rp.Mode); err != nil {
		return ReadPref{}, err
	}
	if rp.Tags, err = parseTags(doc, rp.Mode); err != nil {
		return ReadPref{}, err
	}
	if rp.MaxStaleness, err = parseMaxStaleness(doc, rp.Mode); err != nil {
		return ReadPref{}, err
	}
	return rp, nil
}

func parseMode(s string) (Mode, bool) {
	for i, n := range modeNames {
		if n == s {
			return Mode(i), true
		}
	}
	return 0, false
}

// checkHedge validates the (deprecated) hedge option, which mongos-lite does not act on.
func checkHedge(doc bsoncore.Document, mode Mode) error {
	h, err := doc.LookupErr("hedge")
	if err != nil {
		return nil
	}
	hd, ok := h.DocumentOK()
	if !ok {
		return mongoerr.New(mongoerr.TypeMismatch,
			"hedge field must be of type object if provided; found hedge: %s", render(h))
	}
	enabled := true // HedgingMode.enabled defaults to true
	if e, err := hd.LookupErr("enabled"); err == nil {
		if enabled, ok = e.BooleanOK(); !ok {
			return mongoerr.New(mongoerr.TypeMismatch,
				"BSON field 'hedge.enabled' is the wrong type '%s', expected type 'bool'", mongoerr.TypeName(e.Type))
		}
	}
	if enabled && mode == ModePrimary {
		return mongoerr.New(mongoerr.InvalidOptions, `cannot enable hedging for $readPreference mode "primaryOnly"`)
	}
	return nil
}

// parseTags reads tags: [] and [{}] mean "any member"; primary accepts only those.
func parseTags(doc bsoncore.Document, mode Mode) ([]tag.Set, error) {
	v, err := doc.LookupErr("tags")
	if err != nil {
		return nil, nil
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, wrongType("tags", "array", v.Type)
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, mongoerr.New(mongoerr.FailedToParse, "$readPreference tags is not a valid array: %v", err)
	}
	if len(vals) == 0 || len(vals) == 1 && isEmptyDoc(vals[0]) {
		return nil, nil
	}
	if mode == ModePrimary {
		return nil, mongoerr.New(mongoerr.BadValue, "Only empty tags are allowed with primary read preference")
	}
	sets := make([]tag.Set, len(vals))
	for i, sv := range vals {
		sd, ok := sv.DocumentOK()
		if !ok {
			return nil, wrongType("tags."+strconv.Itoa(i), "object", sv.Type)
		}
		elems, err := sd.Elements()
		if err != nil {
			return nil, mongoerr.New(mongoerr.FailedToParse, "$readPreference tag set %d is not a valid document: %v", i, err)
		}
		set := make(tag.Set, 0, len(elems))
		for _, el := range elems {
			s, ok := el.Value().StringValueOK()
			if !ok {
				// Member tags are strings: a value of another type could never match.
				return nil, wrongType("tags."+strconv.Itoa(i)+"."+el.Key(), "string", el.Value().Type)
			}
			set = append(set, tag.Tag{Name: el.Key(), Value: s})
		}
		sets[i] = set
	}
	return sets, nil
}

func isEmptyDoc(v bsoncore.Value) bool {
	d, ok := v.DocumentOK()
	return ok && len(d) == 5
}

// parseMaxStaleness follows bsonExtractIntegerFieldWithDefault and then the range checks.
func parseMaxStaleness(doc bsoncore.Document, mode Mode) (time.Duration, error) {
	const field = "maxStalenessSeconds"
	v, err := doc.LookupErr(field)
	if err != nil {
		return 0, nil
	}
	if !v.IsNumber() {
		return 0, mongoerr.New(mongoerr.TypeMismatch,
			`Expected field "%s" to have numeric type, but found %s`, field, mongoerr.TypeName(v.Type))
	}
	secs, exact := exactInt64(v)
	if !exact {
		return 0, mongoerr.New(mongoerr.BadValue,
			`Expected field "%s" to have a value exactly representable as a 64-bit integer, but found %s: %s`,
			field, field, render(v))
	}
	switch {
	case secs == 0:
		return 0, nil
	case secs < 0:
		return 0, mongoerr.New(mongoerr.BadValue, "%s must be a non-negative integer", field)
	case secs == math.MaxInt64:
		return 0, mongoerr.New(mongoerr.BadValue, "%s value can not exceed %d", field, int64(math.MaxInt64))
	case secs < minMaxStaleness:
		return 0, mongoerr.New(mongoerr.MaxStalenessOutOfRange, "%s value can not be less than %d", field, minMaxStaleness)
	case mode == ModePrimary:
		return 0, mongoerr.New(mongoerr.BadValue, "%s can not be set for the primary mode", field)
	}
	if secs > int64(math.MaxInt64/time.Second) {
		return math.MaxInt64, nil // beyond any real lag: no limit in practice
	}
	return time.Duration(secs) * time.Second, nil
}

// exactInt64 converts a BSON number to int64 as mongod's safeNumberLong does (saturating), and
// reports whether the value was exactly that integer.
func exactInt64(v bsoncore.Value) (int64, bool) {
	switch v.Type {
	case bsoncore.TypeInt32, bsoncore.TypeInt64:
		n, _ := v.AsInt64OK()
		return n, true
	}
	var f float64
	if v.Type == bsoncore.TypeDecimal128 {
		var err error
		if f, err = strconv.ParseFloat(bson.NewDecimal128(v.Decimal128()).String(), 64); err != nil {
			return 0, false // NaN/Inf spellings ParseFloat refuses, or out of range
		}
	} else {
		f = v.Double()
	}
	var n int64
	switch {
	case math.IsNaN(f):
		return 0, false
	case f >= math.MaxInt64:
		n = math.MaxInt64
	case f <= math.MinInt64:
		n = math.MinInt64
	default:
		n = int64(f)
	}
	return n, float64(n) == f
}

func wrongType(field, want string, got bsoncore.Type) *mongoerr.Error {
	return mongoerr.New(mongoerr.TypeMismatch, `"%s" had the wrong type. Expected %s, found %s`, field, want, mongoerr.TypeName(got))
}

// render prints a value roughly as mongod prints a BSONElement's value in messages.
func render(v bsoncore.Value) string {
	switch v.Type {
	case bsoncore.TypeDouble:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case bsoncore.TypeInt32, bsoncore.TypeInt64:
		n, _ := v.AsInt64OK()
		return strconv.FormatInt(n, 10)
	case bsoncore.TypeString:
		return strconv.Quote(v.StringValue())
	case bsoncore.TypeBoolean:
		return strconv.FormatBool(v.Boolean())
	case bsoncore.TypeNull:
		return "null"
	}
	return v.String()
}
