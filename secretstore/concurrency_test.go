package secretstore

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Concurrent writers must never lose a grant: each Add re-reads the file
// under the lock, so none starts from a copy another has since replaced.

func TestConcurrentAddsSameProcess(t *testing.T) {
	const n = 16
	path := filepath.Join(t.TempDir(), "grants.json")
	kr := mustKeyring(t, testKey(1))
	stores := make([]*FileStore, n)
	for i := range stores {
		stores[i] = openAt(t, path, kr)
	}
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := s.Add(ctx, bearer(fmt.Sprint("tok", i)))
			ids[i], errs[i] = g.ID, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkAllPresent(t, openAt(t, path, kr), ids)
}

// helperEnv tells a re-executed test binary to act as a writer process.
const helperEnv = "ALTER_SECRETSTORE_TEST_WRITER"

func TestConcurrentAddsAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	const procs, each = 4, 5
	dir := t.TempDir()
	path := filepath.Join(dir, "grants.json")
	keyPath := filepath.Join(dir, "master.key")
	if err := GenerateKeyFile(keyPath); err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*os.File, procs)
	for i := range cmds {
		out, err := os.Create(filepath.Join(dir, "ids-"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = out
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriterProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+path+"|"+keyPath+"|"+strconv.Itoa(each))
		cmd.Stdout, cmd.Stderr = out, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		outs[i].Close()
	}
	var ids []string
	for i := range outs {
		data, _ := os.ReadFile(outs[i].Name())
		for _, line := range strings.Fields(string(data)) {
			if len(line) == 36 {
				ids = append(ids, line)
			}
		}
	}
	if len(ids) != procs*each {
		t.Fatalf("writers reported %d grant ids, want %d", len(ids), procs*each)
	}
	kr, err := LoadKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	checkAllPresent(t, openAt(t, path, kr), ids)
}

// TestWriterProcess is not a test: it is the writer process that
// TestConcurrentAddsAcrossProcesses starts. It prints each new grant id.
func TestWriterProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process for TestConcurrentAddsAcrossProcesses")
	}
	parts := strings.Split(spec, "|")
	path, keyPath := parts[0], parts[1]
	n, _ := strconv.Atoi(parts[2])
	kr, err := LoadKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	s := openAt(t, path, kr)
	for i := 0; i < n; i++ {
		g := mustAdd(t, s, bearer(fmt.Sprint("tok", os.Getpid(), i)))
		fmt.Println(g.ID)
	}
}

func checkAllPresent(t *testing.T, s *FileStore, ids []string) {
	t.Helper()
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(ids) {
		t.Fatalf("store holds %d grants, want %d: a write was lost", len(list), len(ids))
	}
	for _, id := range ids {
		if _, err := s.Resolve(ctx, id, time.Now()); err != nil {
			t.Fatalf("grant %s: %v", id, err)
		}
	}
}
