package query

import "github.com/mongos-lite/mongos-lite/internal/mongoerr"

func errorf(code mongoerr.Code, format string, args ...any) error {
	return mongoerr.New(code, format, args...)
}

// unsupported reports a real MongoDB feature memshard does not implement, so nobody mistakes it
// for MongoDB rejecting the input.
func unsupported(what string) error {
	return mongoerr.New(mongoerr.BadValue, "memshard does not support %s", what)
}
