#!/usr/bin/env bash
# keyfile.sh PATH: creates a random key file for key-file authentication between mongods (their
# --keyFile) and mongos-lite (its --keyfile), unless PATH exists already. The key is 1008 base64
# characters (mongod takes 6 to 1024), the file mode 0400 and yours: mongod and mongos-lite both
# refuse a key file that its group or others may read. docker-compose.keyfile.yml reads it from
# .secrets/keyfile; a new directory gets a .gitignore so the key is never committed.
set -euo pipefail
if [ "$#" -ne 1 ]; then
	echo "usage: scripts/keyfile.sh PATH   (docker-compose.keyfile.yml reads .secrets/keyfile)" >&2
	exit 2
fi
path=$1
dir=$(dirname "$path")
umask 077
if [ ! -d "$dir" ]; then
	mkdir -p "$dir"
	printf '*\n' >"$dir/.gitignore"
fi
if [ -d "$path" ]; then
	# What Docker leaves when compose ran with the override before the key existed.
	echo "keyfile: $path is a directory (made by docker compose up without a key?): remove it and run again" >&2
	exit 1
fi
if [ -e "$path" ]; then
	if [ -n "$(find "$path" -perm /077)" ]; then
		echo "keyfile: $path may be read by its group or others; mongod refuses it (chmod 400 $path)" >&2
		exit 1
	fi
	echo "keyfile: keeping $path"
	exit 0
fi
tmp=$(mktemp "$dir/.keyfile.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# 756 random bytes are 1008 base64 characters, on one line.
head -c 756 /dev/urandom | base64 | tr -d '\n' >"$tmp"
chmod 0400 "$tmp"
mv "$tmp" "$path"
trap - EXIT
echo "keyfile: created $path"
