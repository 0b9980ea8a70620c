// Package query is memshard's in-memory document engine: BSON comparison, query filters,
// projections, updates, sorts and a small aggregation pipeline, with MongoDB's semantics and
// error codes.
package query

import "github.com/mongos-lite/mongos-lite/internal/mongoerr"

// Codes mongoerr does not define yet. Bare assertion codes (5 digits) are reported by servers as
// Location<code>, which is what mongoerr.Code.Name gives for unknown codes.
const (
	codeInvalidBSON                mongoerr.Code = 22
	codePathNotViable              mongoerr.Code = 28
	codeConflictingUpdateOperators mongoerr.Code = 40
	codeDollarPrefixedFieldName    mongoerr.Code = 52
	codeInvalidIDField             mongoerr.Code = 53
	codeNotSingleValueField        mongoerr.Code = 54
	codeEmptyFieldName             mongoerr.Code = 56
	codeImmutableField             mongoerr.Code = 66
	codeInvalidPipelineOperator    mongoerr.Code = 168

	codeBadRegexOption      mongoerr.Code = 51108
	codeBadRegex            mongoerr.Code = 51091
	codeProjectionExclusion mongoerr.Code = 31254 // exclusion inside an inclusion projection
	codeProjectionInclusion mongoerr.Code = 31253 // inclusion inside an exclusion projection
	codeProjectionExprInEx  mongoerr.Code = 31252
	codePathCollisionRest   mongoerr.Code = 31249
	codePathCollision       mongoerr.Code = 31250
	codeEmptyProjection     mongoerr.Code = 51272
	codeStageOneField       mongoerr.Code = 40323
	codeUnknownStage        mongoerr.Code = 40324
	codeLimitNotNumber      mongoerr.Code = 15957
	codeLimitNotPositive    mongoerr.Code = 15958
	codeSkipNotNumber       mongoerr.Code = 15972
	codeSkipNegative        mongoerr.Code = 15956
	codeMatchNotObject      mongoerr.Code = 15959
	codeSortNotObject       mongoerr.Code = 15973
	codeSortBadValue        mongoerr.Code = 15974
	codeSortBadOrder        mongoerr.Code = 15975
	codeSortEmpty           mongoerr.Code = 15976
	codeGroupNotObject      mongoerr.Code = 15947
	codeGroupNoID           mongoerr.Code = 15955
	codeGroupUnknownOp      mongoerr.Code = 15952
	codeGroupFieldNotAcc    mongoerr.Code = 40234
	codeGroupFieldDotted    mongoerr.Code = 40235
	codeGroupOneAcc         mongoerr.Code = 40238
	codeCountNotString      mongoerr.Code = 40156
	codeCountEmpty          mongoerr.Code = 40157
	codeCountDollar         mongoerr.Code = 40158
	codeCountDot            mongoerr.Code = 40160
	codeUnsetNotString      mongoerr.Code = 31002
	codeUnsetArrayNotString mongoerr.Code = 31120
	codeFieldPathDollar     mongoerr.Code = 16872
	codeFieldPathDot        mongoerr.Code = 16412
	codeUndefinedVariable   mongoerr.Code = 17276
)

func errorf(code mongoerr.Code, format string, args ...any) error {
	return mongoerr.New(code, format, args...)
}

// unsupported reports a real MongoDB feature memshard does not implement, so nobody mistakes it
// for MongoDB rejecting the input.
func unsupported(what string) error {
	return mongoerr.New(mongoerr.BadValue, "memshard does not support %s", what)
}
