package router

import (
	"context"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// Wire versions of the MongoDB release the router speaks for (8.0), used where a shard's range
// is not known yet.
const (
	routerMinWireVersion = 0
	routerMaxWireVersion = 25
)

// handleQuery answers OP_QUERY, which since 5.1 carries only the legacy handshake.
func (c *conn) handleQuery(frame []byte) ([]byte, error) {
	c.opTime = 0
	q, err := wire.ParseQuery(frame)
	if err != nil {
		return nil, err
	}
	cmd := q.Command()
	name := wire.CommandName(cmd)
	var body bsoncore.Document
	switch {
	case name != "hello" && name != "isMaster" && name != "ismaster":
		err = mongoerr.New(mongoerr.UnsupportedOpQueryCommand, "Unsupported OP_QUERY command: %s", name)
	case !c.s.beginOp():
		err = c.s.quiesceError()
	default:
		body, err = c.legacyHello(cmd, q.Database())
		c.s.endOp()
	}
	idx, reply := wiremessage.AppendHeaderStart(c.out[:0], replyRequestID.Add(1), q.Header.RequestID, wire.OpReply)
	reply = wiremessage.AppendReplyFlags(reply, 0)
	reply = wiremessage.AppendReplyCursorID(reply, 0)
	reply = wiremessage.AppendReplyStartingFrom(reply, 0)
	reply = wiremessage.AppendReplyNumberReturned(reply, 1)
	reply = c.appendReplyBody(reply, body, err)
	c.out = wire.SetLength(reply[idx:])
	return c.out, nil
}

// legacyHello answers a hello sent over OP_QUERY, with the generic-argument checks of OP_MSG.
func (c *conn) legacyHello(cmd bsoncore.Document, db string) (bsoncore.Document, error) {
	r := request{Command: command.Command{Name: bsonview.FirstKey(cmd), DB: []byte(db), Body: cmd}}
	who, err := c.identity()
	if err != nil {
		return nil, err
	}
	if err := r.CheckGeneric(who.can); err != nil {
		return nil, err
	}
	return c.hello(context.Background(), &r)
}

// hello answers hello/isMaster/ismaster as a mongos does
// (src/mongo/s/commands/cluster_hello_cmd.cpp).
func (c *conn) hello(ctx context.Context, r *request) (bsoncore.Document, error) {
	legacy := string(bsonview.FirstKey(r.Body)) != "hello"
	if v, ok := bsonview.Lookup(r.Body, "client"); ok {
		if err := c.setClientMetadata(v); err != nil {
			return nil, err
		}
	}
	if err := c.awaitTopologyChange(r.Body); err != nil {
		return nil, err
	}
	b := bsoncore.NewDocumentBuilder()
	if v, ok := bsonview.Lookup(r.Body, "compression"); ok {
		b.AppendArray("compression", c.negotiateCompression(v))
	}
	if legacy {
		b.AppendBoolean("ismaster", true)
	} else {
		b.AppendBoolean("isWritablePrimary", true)
	}
	b.AppendString("msg", "isdbgrid")
	b.AppendDocument("topologyVersion", c.s.topologyVersion())
	if v, ok := bsonview.Lookup(r.Body, "helloOk"); ok && v.Type == bsoncore.TypeBoolean && v.Boolean() {
		b.AppendBoolean("helloOk", true)
	}
	minWire, maxWire := c.s.wireVersions()
	authElems, err := c.helloAuth(r.Body)
	if err != nil {
		return nil, err
	}
	for _, el := range authElems {
		b.AppendValue(bsoncore.Element(el).Key(), bsoncore.Element(el).Value())
	}
	return b.AppendInt32("maxBsonObjectSize", 16*1024*1024).
		AppendInt32("maxMessageSizeBytes", wire.MaxFrameLen).
		AppendInt32("maxWriteBatchSize", 100000).
		AppendDateTime("localTime", time.Now().UnixMilli()).
		AppendInt32("logicalSessionTimeoutMinutes", c.s.sessionTimeoutMinutes()).
		AppendInt64("connectionId", c.id).
		AppendInt32("maxWireVersion", maxWire).
		AppendInt32("minWireVersion", minWire).
		AppendDouble("ok", 1).Build(), nil
}

// maxClientMetadata is mongos's kMaxMongoSMetadataDocumentByteLength: the router forwards the
// document to the shards with every command, with its own part added.
const maxClientMetadata = 512

// setClientMetadata takes the client metadata of the connection's first hello (client_metadata.cpp)
// and prepares the $client the router sends the shards: the client's document and
// {mongos: {host, client, version}}, as mongos's setMongoSMetadata builds it.
func (c *conn) setClientMetadata(v bsoncore.Value) error {
	if c.sawMetadata {
		return mongoerr.New(mongoerr.ClientMetadataCannotBeMutated,
			"The client metadata document may only be sent in the first hello")
	}
	c.sawMetadata = true
	doc, ok := v.DocumentOK()
	if !ok {
		return nil
	}
	if len(doc) > maxClientMetadata {
		return mongoerr.New(mongoerr.ClientMetadataDocumentTooLarge,
			"The client metadata document must be less then or equal to %d bytes", maxClientMetadata)
	}
	c.appName, _ = doc.Lookup("application", "name").StringValueOK()
	idx, dst := bsoncore.AppendDocumentElementStart(nil, "$client")
	bsonview.Each(doc, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) != "mongos" {
			dst = append(dst, el...)
		}
		return true
	})
	dst = bsoncore.AppendDocumentElement(dst, "mongos", bsoncore.NewDocumentBuilder().
		AppendString("host", c.nc.LocalAddr().String()).
		AppendString("client", c.nc.RemoteAddr().String()).
		AppendString("version", Version).Build())
	c.clientMeta, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return nil
}

// awaitTopologyChange implements awaitable hello: a monitor that already knows the current
// topologyVersion waits up to maxAwaitTimeMS for a change. Only shutdown changes a router's, so
// it waits out the time unless the router stops.
func (c *conn) awaitTopologyChange(body bsoncore.Document) error {
	tv, hasTV := bsonview.Lookup(body, "topologyVersion")
	mv, hasMax := bsonview.Lookup(body, "maxAwaitTimeMS")
	switch {
	case !hasTV && !hasMax:
		return nil
	case hasTV && !hasMax:
		return mongoerr.New(51760, "A request with a 'topologyVersion' must include 'maxAwaitTimeMS'")
	case !hasTV && hasMax:
		return mongoerr.New(31368, "A request with 'maxAwaitTimeMS' must include a 'topologyVersion'")
	}
	wait, ok := mv.AsInt64OK()
	if !ok || wait < 0 {
		return mongoerr.New(51759, "maxAwaitTimeMS must be a non-negative integer")
	}
	doc, _ := tv.DocumentOK()
	pid, _ := doc.Lookup("processId").ObjectIDOK()
	counter, _ := doc.Lookup("counter").AsInt64OK()
	if counter < 0 {
		return mongoerr.New(51758, "topologyVersion must have a non-negative counter")
	}
	if pid != c.s.processID || counter != c.s.topologyCounter() {
		return nil // the caller is behind: answer at once
	}
	t := time.NewTimer(time.Duration(wait) * time.Millisecond)
	defer t.Stop()
	c.s.awaiting.Add(1)
	defer c.s.awaiting.Add(-1)
	select {
	case <-t.C:
	case <-c.s.shutdown:
	}
	return nil
}

func (s *Server) topologyCounter() int64 {
	select {
	case <-s.shutdown:
		return 1
	default:
		return 0
	}
}

func (s *Server) topologyVersion() bsoncore.Document {
	return bsoncore.NewDocumentBuilder().
		AppendObjectID("processId", s.processID).
		AppendInt64("counter", s.topologyCounter()).Build()
}

// negotiateCompression keeps, in the client's order, the compressors the router also speaks.
func (c *conn) negotiateCompression(v bsoncore.Value) []byte {
	c.compressors = c.compressors[:0]
	var names []bsoncore.Value
	if arr, ok := v.ArrayOK(); ok {
		vals, _ := arr.Values()
		for _, nv := range vals {
			name, _ := nv.StringValueOK()
			for _, known := range wire.CompressorNames {
				if known.Name == name {
					c.compressors = append(c.compressors, known.ID)
					names = append(names, bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, name)})
				}
			}
		}
	}
	return bsoncore.BuildArray(nil, names...)
}

// wireVersions is the range every shard supports: the highest minimum and the lowest maximum.
func (s *Server) wireVersions() (int32, int32) {
	lo, hi := int32(routerMinWireVersion), int32(routerMaxWireVersion)
	for _, sh := range s.cluster.Shards() {
		if lo2, hi2, ok := sh.WireVersions(); ok {
			lo, hi = max(lo, lo2), min(hi, hi2)
		}
	}
	return lo, hi
}

// sessionTimeoutMinutes is the smallest of the router's and every shard's, so no session the
// router keeps alive has already expired on a shard.
func (s *Server) sessionTimeoutMinutes() int32 {
	t := int32(s.cfg.LogicalSessionTimeoutMinutes)
	for _, sh := range s.cluster.Shards() {
		if m, ok := sh.SessionTimeoutMinutes(); ok {
			t = min(t, m)
		}
	}
	return t
}
