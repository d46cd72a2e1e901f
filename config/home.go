package config

import (
	"errors"
	"os"
	"path/filepath"
)

// HomeEnv names the variable that moves every default path.
const HomeEnv = "ALTER_HOME"

// Home returns the directory that holds the key, CA, store and config: the
// --home flag if given, else $ALTER_HOME, else ~/.alter. It is made absolute
// so messages that name files are unambiguous.
func Home(flag string) (string, error) {
	dir := flag
	if dir == "" {
		dir = os.Getenv(HomeEnv)
	}
	if dir == "" {
		userHome, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("cannot find your home directory; set ALTER_HOME or pass --home")
		}
		dir = filepath.Join(userHome, ".alter")
	}
	return filepath.Abs(dir)
}

// FileName is the config file alter init writes and alter proxy reads from
// the home when no --config is given.
const FileName = "config.yaml"
