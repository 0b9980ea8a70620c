// Package query is memshard's in-memory document engine: BSON comparison order, query filters,
// projections, updates and upserts, sorts and a small aggregation pipeline, over raw BSON
// documents, with MongoDB's semantics, error codes and messages.
//
// Not supported (each is refused with an error saying so, never silently misread): $expr, $where,
// $text, $jsonSchema, $type, $mod, bitwise and geo query operators; regex option x and PCRE-only
// syntax (patterns run on Go's RE2); positional ($, $[], $[id]) updates and projections, $slice,
// $elemMatch and $meta projections; $bit; pipeline-style updates; aggregation expressions other
// than field paths, $$ROOT/$$CURRENT, literals and $literal; stages other than $match $project
// $addFields/$set $unset $sort $skip $limit $group $count $unwind; collations. Decimal128 values
// compare and compute through doubles.
package query
