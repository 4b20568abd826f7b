package linstordb_test

// Real servers for the tests: one etcd (the Debian etcd binary on PATH, or $LINSTOR_DB_ETCD) and one
// kube-apiserver (tools/kube-apiserver/start.sh) for the whole test binary, on loopback. A missing
// binary is a failure, never a skip.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

type etcdServer struct {
	URL  string // etcd://127.0.0.1:PORT
	dir  string
	proc *exec.Cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEtcd() (*etcdServer, error) {
	binary := os.Getenv("LINSTOR_DB_ETCD")
	if binary == "" {
		path, err := exec.LookPath("etcd")
		if err != nil {
			return nil, fmt.Errorf("etcd is not installed (run scripts/setup.sh or set LINSTOR_DB_ETCD): %w", err)
		}
		binary = path
	}
	dir, err := os.MkdirTemp("", "linstordb-go-etcd-")
	if err != nil {
		return nil, err
	}
	client, err := freePort()
	if err != nil {
		return nil, err
	}
	peer, err := freePort()
	if err != nil {
		return nil, err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	log, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--log-level=error")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &etcdServer{URL: fmt.Sprintf("etcd://127.0.0.1:%d", client), dir: dir, proc: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", client))
		if err == nil {
			conn.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("etcd did not start on port %d (log in %s)", client, log.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *etcdServer) stop() {
	if s.proc.Process != nil {
		_ = s.proc.Process.Kill()
		_ = s.proc.Wait()
	}
	_ = os.RemoveAll(s.dir)
}

var nextPrefix atomic.Int64

// configDir writes a linstor.toml giving etcd a key prefix no other test uses, so that tests sharing
// the etcd never see each other's data.
func (s *etcdServer) configDir(dir, name string) (string, error) {
	body := fmt.Sprintf("[db]\nconnection_url = %q\n[db.etcd]\nprefix = \"/go-%d-%s/\"\n", s.URL, nextPrefix.Add(1), name)
	return dir, os.WriteFile(filepath.Join(dir, "linstor.toml"), []byte(body), 0o600)
}

type apiServer struct {
	dir  string
	repo string
	env  map[string]string
}

// startAPIServer runs tools/kube-apiserver/start.sh; its watchdog also stops the server when this
// process exits, should stop() not run.
func startAPIServer(repo string) (*apiServer, error) {
	cmd := exec.Command("bash", filepath.Join(repo, "tools/kube-apiserver/start.sh"), "--watch-pid", fmt.Sprint(os.Getpid()))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tools/kube-apiserver/start.sh failed: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	f, err := os.Open(filepath.Join(dir, "env"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if key, value, ok := strings.Cut(scanner.Text(), "="); ok {
			env[key] = value
		}
	}
	return &apiServer{dir: dir, repo: repo, env: env}, scanner.Err()
}

func (s *apiServer) stop() {
	cmd := exec.Command("bash", filepath.Join(s.repo, "tools/kube-apiserver/stop.sh"), s.dir)
	cmd.Stderr = os.Stderr
	_ = cmd.Run()
}
