package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/alter-sidecar/alter/server/storage"

	"github.com/alter-sidecar/alter/server/portal"
)

// minUserPassword is the shortest password `alter server user add` takes,
// in characters. Longer than portal.MinPassword: these logins face the
// network, and a passphrase of a few words is easy to type.
const minUserPassword = 12

// maxPasswordInput bounds what is read from stdin (portal hashes at most
// 1024 bytes).
const maxPasswordInput = 4096

// serverUserCommand is "alter server user": the developer portal's
// username/password logins, written to the database directly, like tokens.
func (a *app) serverUserCommand(configFile *string) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Add, list and disable the developer portal's users"}
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a portal user; the password is read from standard input",
		Long: "add creates a user who can log in to the developer portal (/portal) with NAME and a\n" +
			"password. The password is read from standard input, never from a flag (flags end up in\n" +
			"shell history and process listings): printf %s \"$PW\" | alter server user add NAME.\n" +
			"On a terminal it is asked for twice, without echo. It must be at least 12 characters;\n" +
			"the server keeps only its argon2id hash.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := a.readNewPassword()
			if err != nil {
				return err
			}
			hash, err := portal.HashPassword(password)
			if err != nil {
				return usageError{fmt.Errorf("password: %w", err)}
			}
			db, err := a.tokenDB(cmd, *configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			u, err := db.CreateUser(cmd.Context(), args[0], hash)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "created user %s (%s); they can log in to the portal now\n", u.Name, u.ID)
			return nil
		},
	}

	list := serverDBList(a, configFile, "List portal users (never their password hashes)",
		(*storage.DB).ListUsers,
		"NAME\tCREATED\tDISABLED",
		func(u storage.User) string {
			return fmt.Sprintf("%s\t%s\t%s", u.Name, u.CreatedAt.Format(time.RFC3339), timeOrDash(u.DisabledAt))
		})

	disable := &cobra.Command{
		Use:   "disable NAME",
		Short: "Disable a portal user at once, on every replica, ending their sessions",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.tokenDB(cmd, *configFile)
			if err != nil {
				return err
			}
			defer db.Close()
			u, err := db.DisableUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "disabled user %s; their portal sessions have ended\n", u.Name)
			return nil
		},
	}
	cmd.AddCommand(add, list, disable)
	return cmd
}

// readNewPassword reads a new password from stdin: on a terminal twice,
// without echo; otherwise the whole input, less one trailing newline.
// Errors never repeat the input.
func (a *app) readNewPassword() (string, error) {
	var pw string
	if f, ok := a.stdin.(*os.File); ok && isTerminal(f) {
		first, err := a.promptPassword(f, "Password for the new user: ")
		if err != nil {
			return "", err
		}
		if err := checkNewPassword(first); err != nil {
			return "", err
		}
		again, err := a.promptPassword(f, "Again: ")
		if err != nil {
			return "", err
		}
		if again != first {
			return "", usageError{errors.New("the two passwords differ")}
		}
		pw = first
	} else {
		data, err := io.ReadAll(io.LimitReader(a.stdin, maxPasswordInput+1))
		if err != nil {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		if len(data) > maxPasswordInput {
			return "", usageError{fmt.Errorf("the password on stdin is longer than %d bytes", maxPasswordInput)}
		}
		data = bytes.TrimSuffix(data, []byte("\n"))
		data = bytes.TrimSuffix(data, []byte("\r"))
		if len(data) == 0 {
			return "", usageError{errors.New("no password on stdin (pipe it in: printf %s \"$PW\" | alter server user add NAME)")}
		}
		if bytes.ContainsAny(data, "\r\n") {
			return "", usageError{errors.New("the password on stdin is more than one line")}
		}
		pw = string(data)
	}
	return pw, checkNewPassword(pw)
}

func checkNewPassword(pw string) error {
	if !utf8.ValidString(pw) {
		return usageError{errors.New("the password is not valid UTF-8")}
	}
	if n := utf8.RuneCountInString(pw); n < minUserPassword {
		return usageError{fmt.Errorf("password too short: %d characters, at least %d are needed (a few words make a good one)", n, minUserPassword)}
	}
	return nil
}

// promptPassword asks on stderr and reads one line from the terminal with
// echo off.
func (a *app) promptPassword(f *os.File, prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	restore, err := echoOff(f)
	if err != nil {
		return "", fmt.Errorf("turn off terminal echo: %w", err)
	}
	line, err := bufio.NewReader(io.LimitReader(f, maxPasswordInput)).ReadString('\n')
	restore()
	fmt.Fprintln(a.stderr)
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = string(bytes.TrimRight([]byte(line), "\r\n"))
	return line, nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
