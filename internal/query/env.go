package query

import (
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Env is what a command's filters, expressions, sorts and updates see besides the documents:
// its let variables, the time ($$NOW) and its collation. A nil *Env is no variables and the
// simple collation. Everything compiled through an Env keeps it, so an Env belongs to one
// command.
type Env struct {
	Vars      map[string]bson.RawValue
	Now       time.Time
	Collation *Collation
}

// NewEnv evaluates a command's let document (each value an expression without a document,
// evaluated once, as mongod's ExpressionContext does) for a command with that collation.
func NewEnv(let bson.Raw, coll *Collation, now time.Time) (*Env, error) {
	env := &Env{Now: now, Collation: coll}
	if err := env.Let(let); err != nil {
		return nil, err
	}
	return env, nil
}

// Let adds the variables of a let document (an update statement's c as well) to env.
func (env *Env) Let(let bson.Raw) error {
	if len(let) <= 5 {
		return nil
	}
	if !validDoc(let) {
		return errorf(mongoerr.InvalidBSON, "let is not a valid BSON document")
	}
	p := &exprParser{env: env}
	it := newIter(let)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		name := string(k)
		if err := checkUserVariable(name); err != nil {
			return err
		}
		e, err := p.parse(v)
		if err != nil {
			return err
		}
		val, err := e.eval(&evalCtx{root: emptyDoc, env: env})
		if err != nil {
			return err
		}
		if env.Vars == nil {
			env.Vars = map[string]bson.RawValue{}
		}
		env.Vars[name] = val
	}
	return nil
}

// checkUserVariable applies variable_validation.cpp's rules for a name a user defines.
func checkUserVariable(name string) error {
	if name == "" {
		return errorf(16866, "empty variable names are not allowed")
	}
	first, _ := utf8.DecodeRuneInString(name)
	if !unicode.IsLower(first) && first < utf8.RuneSelf {
		return errorf(16867, "'%s' starts with an invalid character for a user variable name", name)
	}
	for _, r := range name {
		if r < utf8.RuneSelf && !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return errorf(16868, "'%s' contains an invalid character for a variable name: '%c'", name, r)
		}
	}
	return nil
}

func (env *Env) collation() *Collation {
	if env == nil {
		return nil
	}
	return env.Collation
}

func (env *Env) now() time.Time {
	if env == nil || env.Now.IsZero() {
		return time.Now()
	}
	return env.Now
}

func (env *Env) userVar(name string) (bson.RawValue, bool) {
	if env == nil {
		return missing, false
	}
	v, ok := env.Vars[name]
	return v, ok
}
