// Initiates the shard replica sets of docker-compose.yml and waits until they can serve: each
// has a primary and every member is PRIMARY or SECONDARY. Run it with `mongosh --nodb`. The sets
// come from the SHARD_SETS environment variable, "rs0/host:port,host:port;rs1/...", the syntax
// of the integration suite's MONGOS_LITE_IT_SHARDS. Run again on initiated sets, it only checks
// and waits. Exits 1 when a set is not ready within the deadline.
//
// It needs no credentials, also when the members run with a key file (docker-compose.keyfile.yml):
// it reaches them over localhost, and while a member has no users the localhost exception allows
// replSetInitiate and replSetGetStatus, the only commands used here (deploy/ checks that).
"use strict";

const deadline = Date.now() + 180 * 1000; // members start in seconds; an election takes ~10 s

function parseSets(spec) {
  const sets = spec.split(";").filter((s) => s.trim() !== "").map((s) => {
    const slash = s.indexOf("/");
    if (slash <= 0 || slash === s.length - 1) {
      throw new Error(`SHARD_SETS entry "${s}": want NAME/host:port,host:port`);
    }
    return { name: s.slice(0, slash), hosts: s.slice(slash + 1).split(",") };
  });
  if (sets.length === 0) {
    throw new Error("SHARD_SETS names no replica set");
  }
  return sets;
}

// One direct connection per member (it may still be starting: opened on first success).
const conns = {};
function command(host, cmd) {
  if (!conns[host]) {
    conns[host] = new Mongo(`mongodb://${host}/?directConnection=true&serverSelectionTimeoutMS=2000&connectTimeoutMS=2000`);
  }
  const reply = conns[host].getDB("admin").runCommand(cmd);
  if (!reply.ok) { // mongosh throws on ok:0 already; this keeps an older shell honest too
    const err = new Error(reply.errmsg);
    err.code = reply.code;
    err.codeName = reply.codeName;
    throw err;
  }
  return reply;
}

// retry runs fn until it returns without throwing, or fails once the deadline has passed.
function retry(what, fn) {
  for (;;) {
    try {
      // Not `return fn()`: mongosh makes fn async, and a returned promise's rejection would
      // escape this try; assigning the call makes mongosh await it here.
      const result = fn();
      return result;
    } catch (e) {
      if (e.fatal || Date.now() > deadline) {
        throw new Error(`${what}: ${e.message}`);
      }
      sleep(1000);
    }
  }
}

function initiate(set) {
  retry(`initiate ${set.name}`, () => {
    try {
      command(set.hosts[0], {
        replSetInitiate: { _id: set.name, members: set.hosts.map((host, i) => ({ _id: i, host })) },
      });
      print(`${set.name}: initiated with ${set.hosts.join(", ")}`);
    } catch (e) {
      if (e.codeName !== "AlreadyInitialized" && e.code !== 23) {
        throw e; // NodeNotFound and friends: members still starting, so try again
      }
      print(`${set.name}: already initiated`);
    }
  });
}

function awaitReady(set) {
  retry(`${set.name} to elect a primary with every member up`, () => {
    // The status's member names are the configured hosts: read from it, not replSetGetConfig,
    // which the localhost exception of a key-file member does not allow.
    const members = command(set.hosts[0], { replSetGetStatus: 1 }).members;
    // Data kept from an older file would advertise other hosts than the ones clients are given.
    const configured = members.slice().sort((a, b) => a._id - b._id).map((m) => m.name);
    if (configured.join(",") !== set.hosts.join(",")) {
      const err = new Error(`configured members ${configured.join(",")}, want ${set.hosts.join(",")} (stale volumes? docker compose down -v)`);
      err.fatal = true;
      throw err;
    }
    const states = members.map((m) => `${m.name} ${m.stateStr}`).join(", ");
    const up = members.every((m) => m.stateStr === "PRIMARY" || m.stateStr === "SECONDARY");
    if (!up || !members.some((m) => m.stateStr === "PRIMARY")) {
      throw new Error(`not ready: ${states}`);
    }
    print(`${set.name}: ${states}`);
  });
}

try {
  const sets = parseSets(process.env.SHARD_SETS || "");
  // for-of, not forEach: mongosh does not await shell calls inside a built-in's callbacks.
  for (const set of sets) {
    initiate(set);
  }
  for (const set of sets) {
    awaitReady(set);
  }
} catch (e) {
  print(`init-replica-sets: ${e.message}`);
  quit(1);
}
