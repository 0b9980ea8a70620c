#!/bin/sh
# keyfile-init's job (docker-compose.keyfile.yml), run as root: install-keyfile.sh KEY UID:PATH...
# copies KEY to each PATH, mode 0400 and owned by UID (group UID too): mongod refuses a key file
# its group or others may read, so each process that reads the key needs a copy of its own.
set -eu
if [ "$#" -lt 2 ]; then
	echo "usage: install-keyfile.sh KEY UID:PATH..." >&2
	exit 2
fi
key=$1
shift
# A missing bind-mount source becomes an empty directory (Docker creates one on the host).
if [ ! -f "$key" ] || [ ! -s "$key" ]; then
	echo "install-keyfile: $key is not a key file: run scripts/keyfile.sh .secrets/keyfile before compose up" \
		"(if Docker made .secrets/keyfile a directory, remove it first)" >&2
	exit 1
fi
for target in "$@"; do
	owner=${target%%:*}
	path=${target#*:}
	install -m 0400 -o "$owner" -g "$owner" "$key" "$path"
	echo "install-keyfile: $path (uid $owner, mode 0400)"
done
