package query

import "github.com/mongos-lite/mongos-lite/internal/mongoerr"

// Named server codes mongoerr does not define yet. Bare assertion codes (e.g. 40324) are written
// at their error sites, as in the server's source; servers report those as Location<code>, which
// is what mongoerr.Code.Name gives for codes it does not know.
const (
	codeInvalidBSON                mongoerr.Code = 22
	codePathNotViable              mongoerr.Code = 28
	codeConflictingUpdateOperators mongoerr.Code = 40
	codeDollarPrefixedFieldName    mongoerr.Code = 52
	codeInvalidIDField             mongoerr.Code = 53
	codeNotSingleValueField        mongoerr.Code = 54
	codeEmptyFieldName             mongoerr.Code = 56
	codeImmutableField             mongoerr.Code = 66
)

func errorf(code mongoerr.Code, format string, args ...any) error {
	return mongoerr.New(code, format, args...)
}

// unsupported reports a real MongoDB feature memshard does not implement, so nobody mistakes it
// for MongoDB rejecting the input.
func unsupported(what string) error {
	return mongoerr.New(mongoerr.BadValue, "memshard does not support %s", what)
}
