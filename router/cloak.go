package router

// Every reply mongos sends goes through src/mongo/rpc/rewrite_state_change_errors.cpp: a
// NotPrimaryError or ShutdownError code at the reply's root (ok: 0), in writeErrors[i] or in
// writeConcernError becomes HostUnreachable(6), which drivers retry but which is no SDAM state
// change; codeName follows, errmsg has "not master" and "node is recovering" replaced by
// "(NOT_PRIMARY)" and "(NODE_IS_RECOVERING)", errorLabels are kept. Shutdown codes stay when the
// router itself is shutting down: then they are true of it. Beyond mongos: LegacyNotPrimary
// (10058), which drivers still read as "not primary", is cloaked too, and a cloaked root loses
// the member's topologyVersion (it describes the member, not the router; outcome.Status.Err drops
// it for the same reason).

import (
	"slices"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// cloaks reports whether an error node with code c is rewritten.
func cloaks(c mongoerr.Code, routerShuttingDown bool) bool {
	return notPrimary(c) || shuttingDown(c) && !routerShuttingDown
}

// cloakError is e as the router may answer it: a copy with HostUnreachable in place of a
// state-change code, or e itself.
func (c *conn) cloakError(e *mongoerr.Error) *mongoerr.Error { return cloakError(e, c.s.inShutdown()) }

func cloakError(e *mongoerr.Error, routerShuttingDown bool) *mongoerr.Error {
	if e == nil || !cloaks(e.Code, routerShuttingDown) {
		return e
	}
	cloaked := *e
	cloaked.Code = mongoerr.HostUnreachable
	cloaked.Msg = scrubErrmsg(e.Msg)
	cloaked.Labels = slices.Clone(e.Labels)
	return &cloaked
}

// cloakReply is reply as the router may answer it: reply itself when no error node in it
// carries a state-change code (the common case costs one scan and no allocation), else a copy
// with those nodes rewritten.
func (c *conn) cloakReply(reply bsoncore.Document) bsoncore.Document {
	return cloakReply(reply, c.s.inShutdown())
}

func cloakReply(reply bsoncore.Document, routerShuttingDown bool) bsoncore.Document {
	st := outcome.Read(reply)
	root := !st.OK && cloaks(st.Code, routerShuttingDown)
	wce := cloaks(st.WriteConcernCode, routerShuttingDown)
	writeErrors := st.HasWriteErrors && writeErrorsCloak(reply, routerShuttingDown)
	if !root && !writeErrors && !wce {
		return reply
	}
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(reply)+32))
	bsonview.Each(reply, func(el bsoncore.Element) bool {
		key := string(el.KeyBytes())
		switch {
		case root && key == "topologyVersion":
		case root && isErrorField(key):
			dst = appendCloakedField(dst, el)
		case writeErrors && key == "writeErrors":
			dst = appendCloakedWriteErrors(dst, el, routerShuttingDown)
		case wce && key == "writeConcernError":
			doc, _ := el.Value().DocumentOK()
			dst = appendCloakedNode(dst, key, doc)
		default:
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// writeErrorsCloak reports whether a write error of reply carries a state-change code.
func writeErrorsCloak(reply bsoncore.Document, routerShuttingDown bool) bool {
	v, _ := bsonview.Lookup(reply, "writeErrors")
	arr, _ := v.ArrayOK()
	found := false
	bsonview.Each(bsoncore.Document(arr), func(we bsoncore.Element) bool {
		doc, isDoc := we.Value().DocumentOK()
		found = isDoc && nodeCloaks(doc, routerShuttingDown)
		return !found
	})
	return found
}

// nodeCloaks reports whether an error node (the reply, a write error, a writeConcernError) has
// a code that is rewritten.
func nodeCloaks(node bsoncore.Document, routerShuttingDown bool) bool {
	v, ok := bsonview.Lookup(node, "code")
	return ok && cloaks(outcome.Code(v), routerShuttingDown)
}

func isErrorField(key string) bool { return key == "code" || key == "codeName" || key == "errmsg" }

// appendCloakedField appends el, a code, codeName or errmsg element of a rewritten node.
func appendCloakedField(dst []byte, el bsoncore.Element) []byte {
	v := el.Value()
	switch key := el.Key(); key {
	case "code":
		return bsoncore.AppendInt32Element(dst, key, int32(mongoerr.HostUnreachable))
	case "codeName":
		return bsoncore.AppendStringElement(dst, key, mongoerr.HostUnreachable.Name())
	default: // errmsg
		if s, ok := v.StringValueOK(); ok {
			return bsoncore.AppendStringElement(dst, key, scrubErrmsg(s))
		}
		return append(dst, el...)
	}
}

// appendCloakedNode appends the embedded document key: node with its error fields rewritten.
func appendCloakedNode(dst []byte, key string, node bsoncore.Document) []byte {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
	bsonview.Each(node, func(el bsoncore.Element) bool {
		if isErrorField(string(el.KeyBytes())) {
			dst = appendCloakedField(dst, el)
		} else {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// appendCloakedWriteErrors appends the writeErrors array el with the write errors that carry a
// state-change code rewritten.
func appendCloakedWriteErrors(dst []byte, el bsoncore.Element, routerShuttingDown bool) []byte {
	arr, _ := el.Value().ArrayOK()
	idx, dst := bsoncore.AppendArrayElementStart(dst, "writeErrors")
	bsonview.Each(bsoncore.Document(arr), func(we bsoncore.Element) bool {
		if doc, ok := we.Value().DocumentOK(); ok && nodeCloaks(doc, routerShuttingDown) {
			dst = appendCloakedNode(dst, we.Key(), doc)
		} else {
			dst = append(dst, we...)
		}
		return true
	})
	dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	return dst
}

// errmsgScrubber replaces the phrases drivers older than the SDAM code lists look for in errmsg.
var errmsgScrubber = strings.NewReplacer("not master", "(NOT_PRIMARY)", "node is recovering", "(NODE_IS_RECOVERING)")

func scrubErrmsg(s string) string { return errmsgScrubber.Replace(s) }
