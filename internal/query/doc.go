// Package query is MongoDB's document semantics over raw BSON, shared by memshard (its whole
// engine) and the router (the stages after a first stage it answers itself, and the comparison
// order and sort keys that merging shards' results needs): BSON comparison order, collations,
// query filters, projections, updates (operator, replacement and pipeline-style, with array
// filters) and upserts, sorts, a small aggregation pipeline and expression language, and the
// index keys and bounds memshard's planner uses, over raw BSON documents, with MongoDB's
// semantics, error codes and messages. A command's let variables, $$NOW and collation reach
// everything compiled through its Env.
//
// Not supported (each is refused with an error saying so, never silently misread): $where,
// $text, $jsonSchema, bitwise and geo query operators; regex option x and PCRE-only syntax
// (patterns run on Go's RE2); positional, $slice, $elemMatch and $meta projections; $bit;
// aggregation operators other than those of exprops.go, exprarith.go and exprfields.go;
// stages other than $match $project $addFields/$set $unset $replaceRoot $replaceWith $sort
// $skip $limit $group $count $unwind (and memshard's own first stages).
// Decimal128 values compare and compute through doubles; collations follow Unicode CLDR
// through golang.org/x/text/collate, where mongod uses ICU, so rare orderings may differ.
package query
