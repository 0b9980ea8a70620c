package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mongos-lite/mongos-lite/auth"
)

// maxPasswordBytes bounds what user add reads from standard input.
const maxPasswordBytes = 64 << 10

// userCommand manages the users file that --auth reads. It never prompts: the password comes on
// standard input, so scripts and CI can create users and no password shows in argv or history.
func userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "manage the users file (--users-file) of an --auth router",
		Subcommands: []*cli.Command{{
			Name:  "add",
			Usage: "add a user with salted SCRAM-SHA-1 and SCRAM-SHA-256 credentials (never the password itself), or a MONGODB-X509 user on $external",
			UsageText: "printf '%s' \"$PASSWORD\" | mongos-lite user add --users-file users.yaml --user alice --db admin --role readWrite@test --password-stdin\n" +
				"mongos-lite user add --users-file users.yaml --db '$external' --user 'CN=app,O=Example' --role readWrite@test   (MONGODB-X509: the user is the certificate's subject)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "users-file", Required: true, EnvVars: env("users-file"),
					Usage: "the users file; created (mode 0600) if missing, replaced atomically"},
				&cli.StringFlag{Name: "user", Required: true, Usage: "the user name"},
				&cli.StringFlag{Name: "db", Value: "admin", Usage: "the user's authentication database"},
				&cli.StringSliceFlag{Name: "role",
					Usage: "a role, as role@db or role (on --db); repeat for several: read, readWrite, dbAdmin, dbOwner, root, clusterAdmin, readAnyDatabase, readWriteAnyDatabase, ... or a custom role of the file"},
				&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from standard input (required: there is no prompt; not for $external users)"},
			},
			Action: func(c *cli.Context) error {
				password, err := userPassword(c)
				if err != nil {
					return fmt.Errorf("user add: %w", err)
				}
				entry, err := newUserEntry(c.String("user"), c.String("db"), c.StringSlice("role"), password)
				if err != nil {
					return fmt.Errorf("user add: %w", err)
				}
				if err := auth.AddUser(c.String("users-file"), entry); err != nil {
					return fmt.Errorf("user add: %w", err)
				}
				roles := make([]string, len(entry.Roles))
				for i, r := range entry.Roles {
					roles[i] = r.String()
				}
				fmt.Fprintf(c.App.Writer, "added %s@%s (roles: %s) to %s\n", entry.User, entry.DB,
					strings.Join(roles, ", "), c.String("users-file"))
				return nil
			},
		}},
	}
}

// userPassword is the password of a new user: read from standard input, or none for a user on
// $external, whose name is the subject of its MONGODB-X509 client certificate.
func userPassword(c *cli.Context) (string, error) {
	stdin := c.Bool("password-stdin")
	switch {
	case c.String("db") == auth.ExternalDB && stdin:
		return "", errors.New("users on $external have no password: they authenticate with MONGODB-X509")
	case c.String("db") == auth.ExternalDB:
		return "", nil
	case !stdin:
		return "", errors.New("pass --password-stdin and the password on standard input")
	}
	return readPassword(c.App.Reader)
}

// readPassword reads the whole of r, without the line ending `echo` adds.
func readPassword(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPasswordBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if len(data) > maxPasswordBytes {
		return "", fmt.Errorf("the password on standard input is longer than %d bytes", maxPasswordBytes)
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	data = bytes.TrimSuffix(data, []byte("\r"))
	if len(data) == 0 {
		return "", errors.New("empty password on standard input")
	}
	return string(data), nil
}

// newUserEntry derives the credentials (none on $external) and parses role or role@db (a bare
// role is on the user's database, as in createUser).
func newUserEntry(user, db string, roles []string, password string) (auth.UserEntry, error) {
	if user == "" || db == "" {
		return auth.UserEntry{}, errors.New("--user and --db must not be empty")
	}
	e := auth.UserEntry{User: user, DB: db, Roles: []auth.RoleRef{}}
	for _, r := range roles {
		name, rdb, found := strings.Cut(r, "@")
		if !found {
			rdb = db
		}
		if name == "" || rdb == "" {
			return auth.UserEntry{}, fmt.Errorf("role %q: want role or role@db", r)
		}
		e.Roles = append(e.Roles, auth.RoleRef{Role: name, DB: rdb})
	}
	if db == auth.ExternalDB {
		return e, nil
	}
	creds, err := auth.NewCredentials(user, password)
	if err != nil {
		return auth.UserEntry{}, err
	}
	e.Credentials = creds
	return e, nil
}
