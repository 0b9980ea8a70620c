package router

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
)

// commandName interns the command name through the handler table, so known names cost no
// allocation; unknown names are reported as "other" to bound metric cardinality.
func commandName(body bsoncore.Document) string {
	key := bsonview.FirstKey(body)
	if name, ok := knownNames[string(key)]; ok {
		return name
	}
	return "other"
}
