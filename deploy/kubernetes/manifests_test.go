// Package kubernetes holds the example manifests for running alter as a
// sidecar (on a file store here, on the control plane in remote/) and the
// control plane itself (control-plane/); this test checks them without a
// cluster.
package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/server/serverconfig"
)

type obj = map[string]any

// get walks a generic YAML tree: string keys index maps, ints index lists.
func get(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(obj)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, keys ...any) string { s, _ := get(v, keys...).(string); return s }

func list(v any, keys ...any) []any { l, _ := get(v, keys...).([]any); return l }

// manifests decodes every document of the sidecar example in dir (".", or
// "remote"), by kind.
func manifests(t *testing.T, dir string) map[string]obj {
	t.Helper()
	return decode(t, dir, "configmap.yaml", "deployment.yaml", "kustomization.yaml")
}

// decode decodes every document of the files in dir, by kind.
func decode(t *testing.T, dir string, files ...string) map[string]obj {
	t.Helper()
	out := map[string]obj{}
	for _, f := range files {
		f = filepath.Join(dir, f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc obj
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[str(doc, "kind")] = doc
		}
	}
	return out
}

// pod is the parts of the Deployment the checks need.
type pod struct {
	spec          obj
	all           []obj // every container, init ones included
	seed, alter   obj
	app           obj
	mounts        map[string]map[string]obj // container -> volume -> mount
	volumes       map[string]obj
	alterCfg      config.Config
	configMount   string
	nativeSidecar bool // a native sidecar (init container, restartPolicy Always)
}

// variants are the sidecar examples: the default on a file store, and the
// copy in remote/ on the control plane.
var variants = []struct{ name, dir string }{{"file", "."}, {"remote", "remote"}}

func load(t *testing.T, dir string) pod {
	t.Helper()
	m := manifests(t, dir)
	dep, cm := m["Deployment"], m["ConfigMap"]
	if dep == nil || cm == nil {
		t.Fatalf("want a Deployment and a ConfigMap, got kinds %v", slices.Collect(maps.Keys(m)))
	}
	if k := m["Kustomization"]; k == nil || !slices.Equal(list(k, "resources"), []any{"configmap.yaml", "deployment.yaml"}) {
		t.Errorf("kustomization.yaml must list configmap.yaml and deployment.yaml")
	}
	p := pod{spec: get(dep, "spec", "template", "spec").(obj), mounts: map[string]map[string]obj{}, volumes: map[string]obj{}}
	for _, kind := range []string{"initContainers", "containers"} {
		for _, c := range list(p.spec, kind) {
			c := c.(obj)
			p.all = append(p.all, c)
			name := str(c, "name")
			p.mounts[name] = map[string]obj{}
			for _, vm := range list(c, "volumeMounts") {
				p.mounts[name][str(vm, "name")] = vm.(obj)
			}
			switch {
			case strings.Contains(str(c, "image"), "alter"):
				p.alter = c
				p.nativeSidecar = kind == "initContainers" && str(c, "restartPolicy") == "Always"
			case kind == "initContainers":
				p.seed = c
			default:
				p.app = c
			}
		}
	}
	for _, v := range list(p.spec, "volumes") {
		p.volumes[str(v, "name")] = v.(obj)
	}
	if p.alter == nil || p.app == nil || p.seed == nil {
		t.Fatalf("want an app container, the alter sidecar and a seeding init container")
	}
	if get(dep, "spec", "selector", "matchLabels", "app.kubernetes.io/name") != get(dep, "spec", "template", "metadata", "labels", "app.kubernetes.io/name") {
		t.Error("the selector does not match the pod template's labels")
	}

	// The sidecar reads the ConfigMap's config.yaml through --config.
	args := list(p.alter, "args")
	i := slices.Index(args, any("--config"))
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("the sidecar is not started with --config: %v", args)
	}
	cfgPath, _ := args[i+1].(string)
	p.configMount = path.Dir(cfgPath)
	vol := mountedVolume(p, "alter", p.configMount)
	if str(p.volumes[vol], "configMap", "name") != str(cm, "metadata", "name") || path.Base(cfgPath) != "config.yaml" {
		t.Fatalf("--config %s is not the ConfigMap's config.yaml", cfgPath)
	}
	var home string
	for _, e := range list(p.alter, "env") {
		if str(e, "name") == "ALTER_HOME" {
			home = str(e, "value")
		}
	}
	cfg, err := config.Parse([]byte(str(cm, "data", "config.yaml")), home, p.configMount)
	if err != nil {
		t.Fatalf("the ConfigMap's config.yaml does not load: %v", err)
	}
	p.alterCfg = cfg
	return p
}

// mountedVolume is the volume container mounts at dir, or "".
func mountedVolume(p pod, container, dir string) string {
	for name, m := range p.mounts[container] {
		if str(m, "mountPath") == dir {
			return name
		}
	}
	return ""
}

// volumeHolding is the volume (and its mount) under which file lies in container.
func volumeHolding(p pod, container, file string) (string, obj) {
	for name, m := range p.mounts[container] {
		if mp := str(m, "mountPath"); strings.HasPrefix(file, mp+"/") {
			return name, m
		}
	}
	return "", nil
}

// TestSidecarConfig: the proxy listens on loopback only, the admin listener
// is reachable by the kubelet, and every file the config names is on the
// writable emptyDir, which the seed container fills from the Secret.
func TestSidecarConfig(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { testSidecarConfig(t, load(t, v.dir)) })
	}
}

func testSidecarConfig(t *testing.T, p pod) {
	cfg := p.alterCfg
	if host, _, _ := net.SplitHostPort(cfg.Listen); host != "127.0.0.1" {
		t.Errorf("listen %s: the proxy must stay on loopback", cfg.Listen)
	}
	if host, port, _ := net.SplitHostPort(cfg.AdminListen); host != "0.0.0.0" || port != "9090" {
		t.Errorf("admin_listen %s: kubelet probes need 0.0.0.0:9090", cfg.AdminListen)
	}
	// The files the seed container copies from the Secret.
	seeded := []string{cfg.MITM.CACert, cfg.MITM.CAKey}
	switch cfg.Store.Type {
	case config.StoreFile:
		seeded = append(seeded, cfg.Store.Path, cfg.Store.KeyFile)
		if cfg.Store.KeyEnv != "" {
			t.Error("the keyring should come from the copied key file")
		}
	case config.StoreRemote:
		seeded = append(seeded, cfg.Store.TokenFile, cfg.Store.CAFile)
		if cfg.Store.TokenEnv != "" || cfg.Store.TokenFile == "" || cfg.Store.CAFile == "" {
			t.Error("the sidecar token and the server's CA should come from files copied from the Secret")
		}
		checkRemoteStore(t, p)
	default:
		t.Fatalf("store.type %q", cfg.Store.Type)
	}
	for _, f := range seeded {
		vol, m := volumeHolding(p, "alter", f)
		if vol == "" || get(p.volumes[vol], "emptyDir") == nil || get(m, "readOnly") == true {
			t.Errorf("%s is not on a writable emptyDir in the sidecar (volume %q)", f, vol)
			continue
		}
		// The seed container copies the file there from the Secret, mode 0600.
		seedMount := str(p.mounts[str(p.seed, "name")][vol], "mountPath")
		script := strings.Join(anyStrings(list(p.seed, "command")), " ")
		if seedMount == "" || !strings.Contains(script, filepath.Base(f)) || !strings.Contains(script, "chmod 600 "+seedMount) {
			t.Errorf("the seed container does not copy %s into %s with mode 0600", filepath.Base(f), vol)
		}
	}
	// The Secret: read-only, only in the seed container, readable by fsGroup.
	for name, v := range p.volumes {
		if get(v, "secret") == nil {
			continue
		}
		for c, mounts := range p.mounts {
			if m, ok := mounts[name]; ok && (c != str(p.seed, "name") || get(m, "readOnly") != true) {
				t.Errorf("Secret volume %s is mounted in %s (readOnly %v); only the seed container may read it", name, c, get(m, "readOnly"))
			}
		}
		if get(v, "secret", "defaultMode") != 0o440 || get(p.spec, "securityContext", "fsGroup") != 65532 {
			t.Errorf("Secret volume %s: want defaultMode 0440 and fsGroup 65532 so the non-root seed can read it", name)
		}
	}
	if get(p.volumes["alter-home"], "emptyDir", "medium") != "Memory" {
		t.Error("alter-home should be in memory: it holds the master key")
	}
	// Graceful drain: the kubelet waits longer than the proxy does.
	if grace, _ := get(p.spec, "terminationGracePeriodSeconds").(int); float64(grace) <= cfg.ShutdownTimeout.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %d must exceed shutdown_timeout %s", grace, cfg.ShutdownTimeout)
	}
}

func anyStrings(l []any) []string {
	var out []string
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// TestProbes: readiness on /readyz and liveness on /healthz, on the admin
// port the config listens on.
func TestProbes(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { testProbes(t, load(t, v.dir)) })
	}
}

func testProbes(t *testing.T, p pod) {
	_, adminPort, _ := net.SplitHostPort(p.alterCfg.AdminListen)
	port := func(v any) string {
		switch v := v.(type) {
		case int:
			return strconv.Itoa(v)
		case string:
			for _, cp := range list(p.alter, "ports") {
				if str(cp, "name") == v {
					return strconv.Itoa(get(cp, "containerPort").(int))
				}
			}
		}
		return ""
	}
	for probe, want := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/readyz"} {
		if got := str(p.alter, probe, "httpGet", "path"); got != want || port(get(p.alter, probe, "httpGet", "port")) != adminPort {
			t.Errorf("%s: %s on port %v, want %s on the admin port %s", probe, got, get(p.alter, probe, "httpGet", "port"), want, adminPort)
		}
	}
	if !p.nativeSidecar {
		t.Log("the sidecar is an ordinary container: the app may start before the proxy is ready")
	}
}

// TestAppEnvironment: the app reaches the sidecar through HTTP(S)_PROXY in
// both spellings, keeps cluster traffic direct, and trusts the CA from the
// shared volume, which it cannot write.
func TestAppEnvironment(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { testAppEnvironment(t, load(t, v.dir)) })
	}
}

func testAppEnvironment(t *testing.T, p pod) {
	env := map[string]string{}
	for _, e := range list(p.app, "env") {
		env[str(e, "name")] = str(e, "value")
	}
	proxyURL := "http://" + p.alterCfg.Listen
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALTER_PROXY"} {
		if env[k] != proxyURL {
			t.Errorf("app %s = %q, want %s", k, env[k], proxyURL)
		}
	}
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		hosts := strings.Split(env[k], ",")
		for _, h := range []string{"localhost", "127.0.0.1", ".svc"} {
			if !slices.Contains(hosts, h) {
				t.Errorf("app %s = %q lacks %s", k, env[k], h)
			}
		}
	}
	ca := env["ALTER_CA_FILE"]
	vol, m := volumeHolding(p, "app", ca)
	if vol == "" || get(p.volumes[vol], "emptyDir") == nil || get(m, "readOnly") != true || env["NODE_EXTRA_CA_CERTS"] != ca {
		t.Fatalf("the app's CA %q is not on a shared emptyDir mounted read-only", ca)
	}
	// Something before the app writes the CA there: the seed container.
	seedMount, ok := p.mounts[str(p.seed, "name")][vol]
	if !ok || get(seedMount, "readOnly") == true {
		t.Fatalf("no init container writes the CA volume %s", vol)
	}
	script := strings.Join(anyStrings(list(p.seed, "command")), " ")
	if !strings.Contains(script, str(seedMount, "mountPath")+"/"+path.Base(ca)) || strings.Contains(script, str(seedMount, "mountPath")+"/ca-key") {
		t.Errorf("the seed container must copy the CA certificate, and only it, to the app's volume")
	}
	for vol := range p.mounts["app"] {
		if vol == "alter-home" || get(p.volumes[vol], "secret") != nil {
			t.Errorf("the app mounts %s, which holds the master key", vol)
		}
	}
}

// TestHardening: non-root everywhere, read-only root filesystems, no
// privilege escalation, no capabilities, requests and limits, and the pod
// name and namespace for the audit identity.
func TestHardening(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { testHardening(t, load(t, v.dir)) })
	}
}

func testHardening(t *testing.T, p pod) {
	checkPodSecurity(t, p.spec)
	checkHardened(t, p.all)
	fields := map[string]string{}
	for _, e := range list(p.alter, "env") {
		fields[str(e, "name")] = str(e, "valueFrom", "fieldRef", "fieldPath")
	}
	if fields["POD_NAME"] != "metadata.name" || fields["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("the sidecar needs POD_NAME and POD_NAMESPACE from the downward API: %v", fields)
	}
	if p.alterCfg.Identity != "" {
		t.Errorf("identity %q overrides POD_NAMESPACE/POD_NAME", p.alterCfg.Identity)
	}
	// GOGC is 400 in the proxy: the heap may outgrow its live data, so the
	// runtime must know the container's limit.
	memLimit := ""
	for _, e := range list(p.alter, "env") {
		if str(e, "name") == "GOMEMLIMIT" {
			memLimit = str(e, "valueFrom", "resourceFieldRef", "resource")
		}
	}
	if memLimit != "limits.memory" || str(p.alter, "resources", "limits", "memory") == "" {
		t.Errorf("the sidecar needs GOMEMLIMIT from its memory limit (got %q, limit %q)", memLimit, str(p.alter, "resources", "limits", "memory"))
	}
}

// checkPodSecurity: the pod runs as a non-root uid.
func checkPodSecurity(t *testing.T, spec obj) {
	t.Helper()
	if get(spec, "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot must be true")
	}
	if u, _ := get(spec, "securityContext", "runAsUser").(int); u == 0 {
		t.Error("pod securityContext.runAsUser must be a non-zero uid")
	}
}

// checkHardened: every container runs as non-root with a read-only root
// filesystem, no privilege escalation, no capabilities, and requests and
// limits.
func checkHardened(t *testing.T, containers []obj) {
	t.Helper()
	if len(containers) == 0 {
		t.Error("no containers")
	}
	for _, c := range containers {
		name := str(c, "name")
		sc := get(c, "securityContext")
		if get(sc, "runAsNonRoot") != true || get(sc, "allowPrivilegeEscalation") != false || get(sc, "readOnlyRootFilesystem") != true {
			t.Errorf("%s: securityContext %v", name, sc)
		}
		if !slices.Equal(list(sc, "capabilities", "drop"), []any{"ALL"}) || get(sc, "capabilities", "add") != nil {
			t.Errorf("%s: capabilities %v, want drop [ALL]", name, get(sc, "capabilities"))
		}
		for _, kind := range []string{"requests", "limits"} {
			for _, res := range []string{"cpu", "memory"} {
				if get(c, "resources", kind, res) == nil {
					t.Errorf("%s: no resources.%s.%s", name, kind, res)
				}
			}
		}
	}
}

// containerPort resolves a probe's or a Service's port (a number or the
// name of one of the container's ports) to a port the container declares,
// or "".
func containerPort(c obj, v any) string {
	for _, cp := range list(c, "ports") {
		n, _ := get(cp, "containerPort").(int)
		if n != 0 && (v == n || v == str(cp, "name")) {
			return strconv.Itoa(n)
		}
	}
	return ""
}

// checkRemoteStore: a sidecar on the control plane dials the Service of
// control-plane/ by its cluster name, and keeps the durable audit log it
// ships on a writable volume of its own.
func checkRemoteStore(t *testing.T, p pod) {
	t.Helper()
	cfg, cp := p.alterCfg, loadControlPlane(t)
	want := fmt.Sprintf("https://%s.%s.svc:%v", str(cp.svc, "metadata", "name"), str(cp.kust, "namespace"), get(cp.svc, "spec", "ports", 0, "port"))
	if cfg.Store.URL != want {
		t.Errorf("store.url %s, want the control plane's Service %s", cfg.Store.URL, want)
	}
	if cfg.Store.MaxStale <= 0 {
		t.Errorf("store.max_stale %s", cfg.Store.MaxStale)
	}
	if !cfg.Audit.Durable {
		t.Error("audit.durable must be true with store.type remote")
	}
	vol, m := volumeHolding(p, "alter", cfg.Audit.Path)
	if vol == "" || get(p.volumes[vol], "emptyDir") == nil || get(m, "readOnly") == true {
		t.Errorf("audit.path %s is not on a writable emptyDir in the sidecar (volume %q)", cfg.Audit.Path, vol)
	}
	if _, ok := p.mounts["app"][vol]; ok {
		t.Errorf("the app mounts the audit volume %s", vol)
	}
}

// TestRemoteMatchesFileExample: remote/deployment.yaml is a copy of
// deployment.yaml (kustomize refuses an overlay inside its base), so it
// may differ only where the remote store needs it: the Secret's name, the
// files the seed copies, and the audit volume.
func TestRemoteMatchesFileExample(t *testing.T) {
	base, remote := manifests(t, ".")["Deployment"], manifests(t, "remote")["Deployment"]
	const auditVol = "alter-audit"
	spec := get(remote, "spec", "template", "spec").(obj)
	var vols []any
	for _, v := range list(spec, "volumes") {
		switch str(v, "name") {
		case auditVol:
			continue
		case "alter-secret":
			if get(v, "secret", "secretName") == get(base, "spec", "template", "spec", "volumes", 0, "secret", "secretName") {
				t.Error("the remote example should use its own Secret (token, CAs), not the file store's")
			}
			get(v, "secret").(obj)["secretName"] = str(base, "spec", "template", "spec", "volumes", 0, "secret", "secretName")
		}
		vols = append(vols, v)
	}
	spec["volumes"] = vols
	for i, c := range list(spec, "initContainers") {
		c := c.(obj)
		switch str(c, "name") {
		case "alter-seed":
			c["command"] = get(base, "spec", "template", "spec", "initContainers", i, "command")
		case "alter":
			var mounts []any
			for _, m := range list(c, "volumeMounts") {
				if str(m, "name") != auditVol {
					mounts = append(mounts, m)
				}
			}
			c["volumeMounts"] = mounts
		}
	}
	if str(base, "spec", "template", "spec", "volumes", 0, "name") != "alter-secret" {
		t.Fatal("deployment.yaml's first volume is no longer alter-secret; update this test")
	}
	for _, k := range slices.Sorted(maps.Keys(spec)) {
		if want := get(base, "spec", "template", "spec", k); !reflect.DeepEqual(spec[k], want) {
			t.Errorf("remote/deployment.yaml differs from deployment.yaml in spec.template.spec.%s:\n%v\nwant\n%v", k, spec[k], want)
		}
	}
	delete(remote, "spec")
	delete(base, "spec")
	if !reflect.DeepEqual(remote, base) {
		t.Errorf("remote/deployment.yaml's metadata differs: %v, want %v", remote, base)
	}
}

// controlPlane is the parts of control-plane/ the checks need.
type controlPlane struct {
	dep, svc, pdb, kust obj
	spec                obj
	server              obj            // the alter server container
	mounts              map[string]obj // volume -> mount
	volumes             map[string]obj
	env                 map[string]obj
	cfg                 serverconfig.Config
	rawCfg              obj // server.yaml as written, for the names of env vars
	configPath          string
}

const controlPlaneDir = "control-plane"

// testDatabaseURL stands in for the alter-server-db Secret's url.
const testDatabaseURL = "postgres://alter:secret@db.internal:5432/alter?sslmode=verify-full"

func loadControlPlane(t *testing.T) controlPlane {
	t.Helper()
	kust := decode(t, controlPlaneDir, "kustomization.yaml")["Kustomization"]
	m := decode(t, controlPlaneDir, anyStrings(list(kust, "resources"))...)
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} {
		if m[kind] == nil {
			t.Fatalf("control-plane/kustomization.yaml: no %s among its resources", kind)
		}
	}
	cp := controlPlane{dep: m["Deployment"], svc: m["Service"], pdb: m["PodDisruptionBudget"], kust: kust,
		mounts: map[string]obj{}, volumes: map[string]obj{}, env: map[string]obj{}}
	cp.spec, _ = get(cp.dep, "spec", "template", "spec").(obj)
	if l := list(cp.spec, "containers"); len(l) != 1 || len(list(cp.spec, "initContainers")) != 0 {
		t.Fatalf("want one container, the server, got %d", len(l))
	}
	cp.server = list(cp.spec, "containers")[0].(obj)
	for _, vm := range list(cp.server, "volumeMounts") {
		cp.mounts[str(vm, "name")] = vm.(obj)
	}
	for _, v := range list(cp.spec, "volumes") {
		cp.volumes[str(v, "name")] = v.(obj)
	}
	for _, e := range list(cp.server, "env") {
		cp.env[str(e, "name")] = e.(obj)
	}
	args := list(cp.server, "args")
	i := slices.Index(args, any("--config"))
	if len(args) == 0 || args[0] != "server" || i < 0 || i+1 >= len(args) {
		t.Fatalf("the container does not run `alter server --config FILE`: %v", args)
	}
	cp.configPath, _ = args[i+1].(string)
	dir := path.Dir(cp.configPath)
	var vol string
	for name, vm := range cp.mounts {
		if str(vm, "mountPath") == dir {
			vol = name
		}
	}
	cm := m["ConfigMap"]
	if str(cp.volumes[vol], "configMap", "name") != str(cm, "metadata", "name") || path.Base(cp.configPath) != serverconfig.FileName {
		t.Fatalf("--config %s is not the ConfigMap's %s", cp.configPath, serverconfig.FileName)
	}
	data := str(cm, "data", serverconfig.FileName)
	if err := yaml.Unmarshal([]byte(data), &cp.rawCfg); err != nil {
		t.Fatal(err)
	}
	// database_url_env is read at load: give it what the Secret holds, and
	// only if the container's environment takes it from a Secret.
	getenv := func(name string) string {
		if cp.fromSecret(name) {
			return testDatabaseURL
		}
		return ""
	}
	cfg, err := serverconfig.Parse([]byte(data), str(cp.env["ALTER_HOME"], "value"), dir, getenv)
	if err != nil {
		t.Fatalf("the ConfigMap's %s does not load: %v", serverconfig.FileName, err)
	}
	cp.cfg = cfg
	return cp
}

// fromSecret reports whether the server's env var name comes from a Secret.
func (cp controlPlane) fromSecret(name string) bool {
	e := cp.env[name]
	return e != nil && str(e, "valueFrom", "secretKeyRef", "name") != "" && str(e, "valueFrom", "secretKeyRef", "key") != ""
}

// TestControlPlane checks control-plane/: alter server's config loads with
// the server's own parser, its secrets come from Secrets, and the
// Deployment, Service and PodDisruptionBudget agree with each other.
func TestControlPlane(t *testing.T) {
	cp := loadControlPlane(t)
	labels := get(cp.dep, "spec", "template", "metadata", "labels")
	selects := func(sel any) bool {
		m, _ := sel.(obj)
		for k, v := range m {
			if get(labels, k) != v {
				return false
			}
		}
		return len(m) > 0
	}
	_, listenPort, _ := net.SplitHostPort(cp.cfg.Listen)
	for _, tc := range []struct {
		name  string
		check func(t *testing.T)
	}{
		{"server config", func(t *testing.T) {
			if host, _, _ := net.SplitHostPort(cp.cfg.Listen); host != "0.0.0.0" || listenPort != "8443" {
				t.Errorf("listen %s, want 0.0.0.0:8443 for the Service and the probes", cp.cfg.Listen)
			}
			if !cp.cfg.TLS() || cp.cfg.Insecure {
				t.Error("the server must serve TLS itself (tls.cert/tls.key, insecure false)")
			}
			// Replicas share one database; SQLite would be one per pod.
			if env := str(cp.rawCfg, "database_url_env"); env == "" || !cp.fromSecret(env) || cp.cfg.DatabaseEngine() != "postgres" {
				t.Errorf("database_url_env %q must name an env var filled from a Secret holding a postgres:// URL", env)
			}
			// Every replica the same keyring, from one Secret.
			if cp.cfg.KeyEnv == "" || !cp.fromSecret(cp.cfg.KeyEnv) || cp.cfg.KeyFile != "" {
				t.Errorf("key_env %q must name an env var filled from a Secret", cp.cfg.KeyEnv)
			}
			// `kubectl exec ... alter server token create` finds the same
			// config through ALTER_HOME even without --config.
			if home := str(cp.env["ALTER_HOME"], "value"); filepath.Join(home, serverconfig.FileName) != cp.configPath {
				t.Errorf("ALTER_HOME %q does not hold %s", home, cp.configPath)
			}
		}},
		{"tls from a kubernetes.io/tls Secret", func(t *testing.T) {
			for file, key := range map[string]string{cp.cfg.TLSCert: "tls.crt", cp.cfg.TLSKey: "tls.key"} {
				var vol string
				for name, vm := range cp.mounts {
					if path.Dir(file) == str(vm, "mountPath") {
						vol = name
					}
				}
				if get(cp.volumes[vol], "secret", "secretName") == nil || path.Base(file) != key || get(cp.mounts[vol], "readOnly") != true {
					t.Errorf("%s is not the %s of a Secret mounted read-only", file, key)
				}
				if get(cp.volumes[vol], "secret", "defaultMode") != 0o440 || get(cp.spec, "securityContext", "fsGroup") != 65532 {
					t.Errorf("Secret volume %s: want defaultMode 0440 and fsGroup 65532 so the non-root server can read it", vol)
				}
			}
		}},
		{"probes", func(t *testing.T) {
			for probe, want := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"} {
				h := get(cp.server, probe, "httpGet")
				if str(h, "path") != want || containerPort(cp.server, get(h, "port")) != listenPort || str(h, "scheme") != "HTTPS" {
					t.Errorf("%s: %v, want HTTPS %s on the declared API port %s", probe, h, want, listenPort)
				}
			}
		}},
		{"hardening", func(t *testing.T) {
			checkPodSecurity(t, cp.spec)
			checkHardened(t, []obj{cp.server})
			if get(cp.spec, "automountServiceAccountToken") != false {
				t.Error("the server needs no service account token")
			}
		}},
		{"service selects the pods", func(t *testing.T) {
			if !selects(get(cp.dep, "spec", "selector", "matchLabels")) {
				t.Error("the Deployment's selector does not match its pod template's labels")
			}
			if str(cp.svc, "spec", "type") != "ClusterIP" || !selects(get(cp.svc, "spec", "selector")) {
				t.Errorf("the Service (type %q) does not select the server's pods", str(cp.svc, "spec", "type"))
			}
			ports := list(cp.svc, "spec", "ports")
			if len(ports) != 1 || get(ports[0], "port") != 8443 || containerPort(cp.server, get(ports[0], "targetPort")) != listenPort {
				t.Errorf("Service ports %v, want 8443 to the API port %s", ports, listenPort)
			}
		}},
		{"disruption budget", func(t *testing.T) {
			replicas, _ := get(cp.dep, "spec", "replicas").(int)
			if get(cp.pdb, "spec", "minAvailable") != 1 || replicas < 2 || !selects(get(cp.pdb, "spec", "selector", "matchLabels")) {
				t.Errorf("want 2 or more replicas (%d) and a PodDisruptionBudget with minAvailable 1 over the server's pods", replicas)
			}
		}},
		{"graceful shutdown", func(t *testing.T) {
			if grace, _ := get(cp.spec, "terminationGracePeriodSeconds").(int); float64(grace) <= cp.cfg.ShutdownTimeout.Seconds() {
				t.Errorf("terminationGracePeriodSeconds %d must exceed shutdown_timeout %s", grace, cp.cfg.ShutdownTimeout)
			}
		}},
		{"readme bootstraps with the server's config", func(t *testing.T) {
			// The binary where the Dockerfile puts it, reading the file the
			// server reads, so it reaches the same database.
			dockerfile, err := os.ReadFile("../../Dockerfile")
			if err != nil {
				t.Fatal(err)
			}
			var bin string
			for _, line := range strings.Split(string(dockerfile), "\n") {
				if rest, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
					bin = strings.Trim(rest, `[]"`)
				}
			}
			readme, err := os.ReadFile("README.md")
			if err != nil {
				t.Fatal(err)
			}
			// Shell continuation lines joined.
			text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(readme), "")
			for _, kind := range []string{"admin", "sidecar"} {
				want := fmt.Sprintf("kubectl -n $NS exec deploy/%s -- %s server token create --config %s --kind %s", str(cp.dep, "metadata", "name"), bin, cp.configPath, kind)
				if bin == "" || !strings.Contains(text, want) {
					t.Errorf("README.md does not bootstrap the %s token with %q", kind, want)
				}
			}
		}},
	} {
		t.Run(tc.name, tc.check)
	}
}

// TestKustomizeBuild renders each kustomization with kubectl when it is
// installed; the checks above do not need it.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	for _, tc := range []struct {
		dir       string
		kinds     []string
		namespace string
	}{
		{".", []string{"ConfigMap", "Deployment"}, ""},
		{"remote", []string{"ConfigMap", "Deployment"}, ""},
		{controlPlaneDir, []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service"}, "alter-system"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			out, err := exec.Command(kubectl, "kustomize", tc.dir).Output()
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v", tc.dir, err)
			}
			var kinds []string
			dec := yaml.NewDecoder(bytes.NewReader(out))
			for {
				var doc obj
				if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				kinds = append(kinds, str(doc, "kind"))
				if ns := str(doc, "metadata", "namespace"); ns != tc.namespace {
					t.Errorf("%s %s: namespace %q, want %q", str(doc, "kind"), str(doc, "metadata", "name"), ns, tc.namespace)
				}
			}
			if slices.Sort(kinds); !slices.Equal(kinds, tc.kinds) {
				t.Errorf("kinds %v, want %v", kinds, tc.kinds)
			}
		})
	}
}
