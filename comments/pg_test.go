// A throwaway PostgreSQL cluster for the tests: SHEPHERD_TEST_PG_DSN when
// set, else one cluster started by this test binary (initdb into a temp
// dir, unix socket only), shared by the tests, each in its own schema.

package comments

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pgCluster is the binary's one cluster (started on first use, stopped
// by TestMain).
var pgCluster struct {
	once sync.Once
	dsn  string // admin DSN; "" with skip set
	skip string
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgCluster.stop != nil {
		pgCluster.stop()
	}
	os.Exit(code)
}

// pgDSN returns a DSN whose search_path is a fresh schema, dropped at the
// end of the test, or skips the test when PostgreSQL is unavailable.
func pgDSN(t testing.TB) string {
	t.Helper()
	pgCluster.once.Do(func() {
		if dsn := os.Getenv("SHEPHERD_TEST_PG_DSN"); dsn != "" {
			pgCluster.dsn = dsn
			return
		}
		pgCluster.dsn, pgCluster.stop, pgCluster.skip = startPostgres()
	})
	if pgCluster.skip != "" {
		t.Skip(pgCluster.skip)
	}
	schema := "t_" + randHex(6)
	pgAdmin(t, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { pgAdmin(t, "DROP SCHEMA "+schema+" CASCADE") })
	sep := "?"
	if strings.Contains(pgCluster.dsn, "?") {
		sep = "&"
	}
	return pgCluster.dsn + sep + "search_path=" + schema
}

func pgAdmin(t testing.TB, stmt string) {
	t.Helper()
	db, err := sql.Open("pgx", pgCluster.dsn)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("postgres: %s: %v", stmt, err)
	}
}

// startPostgres runs initdb and postgres as a non-root user; skip says why
// it could not.
func startPostgres() (dsn string, stop func(), skip string) {
	bin := pgBinDir()
	if bin == "" {
		return "", nil, "PostgreSQL not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql, or set SHEPHERD_TEST_PG_DSN (CI installs it)"
	}
	dir, cred, err := pgDir()
	if err != nil {
		return "", nil, fmt.Sprintf("postgres: %v", err)
	}
	if err := initdb(bin, dir, cred); err != nil {
		os.RemoveAll(dir)
		panic(err) // installed but broken: fail loudly, do not skip
	}
	stop, err = runPostgres(bin, dir, cred)
	if err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	return "postgres:///postgres?host=" + dir + "&user=postgres&sslmode=disable", stop, ""
}

// pgBinDir finds the newest /usr/lib/postgresql/N/bin with initdb.
func pgBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// pgDir makes the cluster's directory; as root it belongs to the postgres
// user, whom initdb and postgres then run as (they refuse root).
func pgDir() (string, *syscall.Credential, error) {
	dir, err := os.MkdirTemp("", "shepherd-pg-")
	if err != nil {
		return "", nil, err
	}
	if os.Geteuid() != 0 {
		return dir, nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func initdb(bin, dir string, cred *syscall.Credential) error {
	cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	return nil
}

// runPostgres starts the server on a unix socket in dir (no TCP at all),
// tuned for throwaway data, and waits until it accepts connections.
func runPostgres(bin, dir string, cred *syscall.Credential) (stop func(), err error) {
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"),
		"-k", dir, "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=500", "-c", "shared_buffers=64MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		os.RemoveAll(dir)
	}
	dsn := "postgres:///postgres?host=" + dir + "&user=postgres&sslmode=disable"
	if err := waitPostgres(dsn, exited); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

func waitPostgres(dsn string, exited <-chan struct{}) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 200*time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres exited before accepting connections: %w", err)
		case <-time.After(backoff):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 30s: %w", err)
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
