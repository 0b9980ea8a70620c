package main

import (
	"errors"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/mongos-lite/mongos-lite/auth"
)

// authFlags turn on client authentication at the router.
func authFlags() []cli.Flag {
	return []cli.Flag{
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "auth", EnvVars: env("auth"),
			Usage: "require clients to authenticate (SCRAM-SHA-256/SHA-1) as users of --users-file"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "users-file", EnvVars: env("users-file"),
			Usage: "YAML users and roles with salted SCRAM credentials (write entries with `mongos-lite user add`)"}),
	}
}

// clientAuth builds the router's authenticator: nil without --auth.
func clientAuth(c *cli.Context, log zerolog.Logger) (*auth.Authenticator, error) {
	if !c.Bool("auth") {
		return nil, nil
	}
	path := c.String("users-file")
	if path == "" {
		return nil, errors.New("--auth needs --users-file (create one with `mongos-lite user add`)")
	}
	users, err := auth.LoadUsers(path)
	if err != nil {
		return nil, err
	}
	return auth.NewAuthenticator(users, nil, log.With().Str("component", "auth").Logger()), nil
}
