package embedded

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// findPostgresBin returns the directory holding initdb and postgres: from
// pg_config --bindir, the Debian layout /usr/lib/postgresql/*/bin (newest
// first), or PATH.
func findPostgresBin() (string, error) {
	ok := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); ok(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil && ok(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found in pg_config --bindir, /usr/lib/postgresql/*/bin or PATH: install them (Debian: apt-get install postgresql)")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// pgUser is who runs initdb and postgres. PostgreSQL refuses to run as
// root, so as root we drop to the "postgres" OS user.
type pgUser struct {
	uid, gid uint32
	drop     bool
}

func lookupPGUser() (pgUser, error) {
	if os.Geteuid() != 0 {
		return pgUser{uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return pgUser{}, fmt.Errorf("running as root, PostgreSQL needs an unprivileged OS user named postgres (Debian's postgresql package creates it; or: useradd --system postgres): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return pgUser{}, fmt.Errorf("uid of postgres user: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return pgUser{}, fmt.Errorf("gid of postgres user: %w", err)
	}
	return pgUser{uid: uint32(uid), gid: uint32(gid), drop: true}, nil
}
