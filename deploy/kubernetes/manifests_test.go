// Package kubernetes holds the example manifests for running alter as a
// sidecar; this test checks them without a cluster.
package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/alter-sidecar/alter/config"
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

// manifests decodes every document of every manifest, by kind.
func manifests(t *testing.T) map[string]obj {
	t.Helper()
	out := map[string]obj{}
	for _, f := range []string{"configmap.yaml", "deployment.yaml", "kustomization.yaml"} {
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

func load(t *testing.T) pod {
	t.Helper()
	m := manifests(t)
	dep, cm := m["Deployment"], m["ConfigMap"]
	if dep == nil || cm == nil {
		t.Fatalf("want a Deployment and a ConfigMap, got kinds %v", slices.Collect(maps.Keys(m)))
	}
	if k := m["Kustomization"]; k == nil || len(list(k, "resources")) != 2 {
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
	p := load(t)
	cfg := p.alterCfg
	if host, _, _ := net.SplitHostPort(cfg.Listen); host != "127.0.0.1" {
		t.Errorf("listen %s: the proxy must stay on loopback", cfg.Listen)
	}
	if host, port, _ := net.SplitHostPort(cfg.AdminListen); host != "0.0.0.0" || port != "9090" {
		t.Errorf("admin_listen %s: kubelet probes need 0.0.0.0:9090", cfg.AdminListen)
	}
	for _, f := range []string{cfg.Store.Path, cfg.Store.KeyFile, cfg.MITM.CACert, cfg.MITM.CAKey} {
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
	if cfg.Store.KeyEnv != "" {
		t.Error("the keyring should come from the copied key file")
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
	p := load(t)
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
	p := load(t)
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
	p := load(t)
	if get(p.spec, "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot must be true")
	}
	if u, _ := get(p.spec, "securityContext", "runAsUser").(int); u == 0 {
		t.Error("pod securityContext.runAsUser must be a non-zero uid")
	}
	for _, c := range p.all {
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
}
