//go:build e2e

package e2e

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestKubernetesObserverDiscoversPods runs the per-node collector of
// examples/kubernetes/configmap.yaml, unchanged but for its credentials,
// intervals and exporter, against pods of node-1 that a stand-in for the
// Kubernetes API serves: the k8s observer watches them as it watches a
// cluster's, through client-go's list and watch. The pods' IP is loopback,
// where real example targets listen.
//
//   - checkout carries the annotation hints of
//     examples/kubernetes/annotated-deployment.yaml on its pprof port;
//   - billing has no annotation but a container port named "pprof", which the
//     config's static rule matches;
//   - web has neither, and checkout's application port no hint.
//
// It requires that checkout and billing are scraped with their pod's
// resource attributes and the service.name the hint (over the pod's label)
// or the pod's label gives, and that no other port is. The collector is
// the binary examples/kubernetes/Dockerfile packs on a distroless static
// base, so it must be statically linked.
func TestKubernetesObserverDiscoversPods(t *testing.T) {
	root := repoRoot(t)
	bin := buildTarget(t)
	_, checkout := runTarget(t, bin, "127.0.0.1:0", "-patterns", "fanout,pool", "-rate", "5")
	_, billing := runTarget(t, bin, "127.0.0.1:0", "-patterns", "fanout,pool", "-rate", "5")
	nobody := []string{freeAddr(t), freeAddr(t)} // ports where nothing listens

	// The example deployment's hints, for checkout's pprof port.
	var deploy struct {
		Spec struct {
			Template struct {
				Metadata struct {
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"metadata"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	readYAML(t, filepath.Join(root, "examples", "kubernetes", "annotated-deployment.yaml"), &deploy)
	hints := map[string]string{}
	for k, v := range deploy.Spec.Template.Metadata.Annotations {
		k = strings.Replace(k, ".6060/", "."+portOf(t, checkout)+"/", 1)
		// Only the interval: the timeout follows it.
		hints[k] = strings.Replace(v, "collection_interval: 30s", "collection_interval: 1s", 1)
	}
	require.Contains(t, hints, "io.opentelemetry.discovery.metrics."+portOf(t, checkout)+"/scraper")

	kube := &fakeKube{node: "node-1", quit: make(chan struct{}), pods: []any{
		pod("shop", "checkout-7d9f", map[string]string{"app.kubernetes.io/name": "storefront"}, hints,
			port{"http", nobody[0]}, port{"debug", checkout}),
		pod("billing", "billing-5c6b", map[string]string{"app.kubernetes.io/name": "billing"}, nil,
			port{"pprof", billing}),
		pod("web", "web-0", nil, nil, port{"http", nobody[1]}),
	}}
	api := httptest.NewServer(kube)
	t.Cleanup(func() {
		close(kube.quit) // ends the open watches, which Close waits for
		api.Close()
	})

	var s sink
	otlp := serveSink(t, &s)

	dir := t.TempDir()
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	readYAML(t, filepath.Join(root, "examples", "kubernetes", "configmap.yaml"), &cm)
	example := filepath.Join(dir, "collector.yaml")
	require.NoError(t, os.WriteFile(example, []byte(cm.Data["collector.yaml"]), 0o600))
	// Merged over the example: kubeconfig credentials instead of the pod's
	// service account, the state in the test's directory instead of the
	// node's, one-second scrapes, metrics to this test.
	override := collectorConfig(t, otlp, `
extensions:
  k8s_observer:
    auth_type: kubeConfig
  file_storage:
    directory: `+dir+`
receivers:
  receiver_creator/goroutine:
    receivers:
      goroutine:
        config:
          collection_interval: 1s
          initial_delay: 0s
          timeout: 800ms
`)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster:
      server: %s
users:
  - name: test
    user:
      token: test
contexts:
  - name: test
    context: {cluster: test, user: test}
current-context: test
`, api.URL)), 0o600))

	exe, err := elf.Open(discoveryBinary(t))
	require.NoError(t, err)
	for _, p := range exe.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "the collector is linked dynamically: distroless/static cannot run it")
	}
	require.NoError(t, exe.Close())

	cmd := exec.Command(discoveryBinary(t), "--config", example, "--config", override)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "K8S_NODE_NAME=node-1", "POD_IP=127.0.0.1")
	startLogged(t, cmd, "collector")

	want := map[string]map[string]any{
		checkout: {"k8s.pod.name": "checkout-7d9f", "k8s.namespace.name": "shop", "service.name": "checkout"},
		billing:  {"k8s.pod.name": "billing-5c6b", "k8s.namespace.name": "billing", "service.name": "billing"},
	}
	require.Eventually(t, func() bool {
		batches := s.snapshot()
		for addr := range want {
			if counts, _ := fanoutOf(batches, addr); len(counts) < 2 {
				return false
			}
		}
		return true
	}, 60*time.Second, 250*time.Millisecond, "discovered pods not scraped")

	batches := s.snapshot()
	for addr, attrs := range want {
		counts, resource := fanoutOf(batches, addr)
		assert.Positive(t, counts[len(counts)-1], "%s: fan-out group", addr)
		for k, v := range attrs {
			assert.Equal(t, v, resource[k], "%s: %s", addr, k)
		}
		assert.Equal(t, "app", resource["k8s.container.name"], addr)
		assert.Equal(t, "c0ffee"+fmt.Sprint(resource["k8s.pod.name"]), resource["container.id"], addr)
		assert.Equal(t, "http://"+addr+"/debug/pprof/goroutine", resource["url.full"], addr)
	}
	for _, addr := range nobody {
		assert.Zero(t, batchesOf(batches, addr), "%s was scraped: no hint or rule names it", addr)
	}
	require.NotEmpty(t, kube.asked())
	for _, q := range kube.asked() {
		assert.Equal(t, "spec.nodeName=node-1", q, "a per-node collector asks for its own node's pods only")
	}
}

// fakeKube serves the two requests the k8s observer's pod informer makes:
// list pods, then watch them (with client-go's watch-list, the initial
// pods come as ADDED events closed by a bookmark). The watch stays open
// with no further event until the client goes.
type fakeKube struct {
	node string
	pods []any
	quit chan struct{}

	mu        sync.Mutex
	selectors []string
}

func (k *fakeKube) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/pods" {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
		return
	}
	q := r.URL.Query()
	k.mu.Lock()
	k.selectors = append(k.selectors, q.Get("fieldSelector"))
	k.mu.Unlock()
	var pods []any
	if q.Get("fieldSelector") == "spec.nodeName="+k.node {
		pods = k.pods
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if q.Get("watch") != "true" && q.Get("watch") != "1" {
		_ = enc.Encode(map[string]any{"kind": "PodList", "apiVersion": "v1", "metadata": map[string]any{"resourceVersion": "1"}, "items": pods})
		return
	}
	if q.Get("sendInitialEvents") == "true" {
		for _, p := range pods {
			_ = enc.Encode(map[string]any{"type": "ADDED", "object": p})
		}
		_ = enc.Encode(map[string]any{"type": "BOOKMARK", "object": map[string]any{
			"kind": "Pod", "apiVersion": "v1",
			"metadata": map[string]any{"resourceVersion": "1", "annotations": map[string]string{"k8s.io/initial-events-end": "true"}},
		}})
	}
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-k.quit:
	}
}

func (k *fakeKube) asked() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.selectors...)
}

type port struct{ name, addr string }

// pod is a running pod of node-1 with one container, "app", whose ports
// are ports; its IP is their host.
func pod(namespace, name string, labels, annotations map[string]string, ports ...port) any {
	var ip string
	var cports []any
	for _, p := range ports {
		host, number, _ := net.SplitHostPort(p.addr)
		ip = host
		var n int
		_, _ = fmt.Sscan(number, &n)
		cports = append(cports, map[string]any{"name": p.name, "containerPort": n, "protocol": "TCP"})
	}
	return map[string]any{
		"kind": "Pod", "apiVersion": "v1",
		"metadata": map[string]any{
			"name": name, "namespace": namespace, "uid": name + "-uid", "resourceVersion": "1",
			"labels": labels, "annotations": annotations,
		},
		"spec": map[string]any{
			"nodeName":   "node-1",
			"containers": []any{map[string]any{"name": "app", "image": "registry.example.com/" + name, "ports": cports}},
		},
		"status": map[string]any{
			"phase": "Running", "podIP": ip,
			"containerStatuses": []any{map[string]any{
				"name": "app", "ready": true, "containerID": "containerd://c0ffee" + name,
				"state": map[string]any{"running": map[string]any{}},
			}},
		},
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return p
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, v), path)
}

// TestKubernetesManifestsAgree checks what kubectl apply would only find
// out in a cluster: the DaemonSet runs as the ServiceAccount that rbac.yaml
// binds to read pods, mounts the ConfigMap and passes its key as --config,
// and sets every environment variable the config reads.
func TestKubernetesManifestsAgree(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "examples", "kubernetes")
	type object struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"metadata"`
		Rules []struct {
			Resources []string `yaml:"resources"`
			Verbs     []string `yaml:"verbs"`
		} `yaml:"rules"`
		Subjects []struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"subjects"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Template struct {
				Spec struct {
					ServiceAccountName string `yaml:"serviceAccountName"`
					Containers         []struct {
						Args []string `yaml:"args"`
						Env  []struct {
							Name string `yaml:"name"`
						} `yaml:"env"`
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
					InitContainers []struct {
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					} `yaml:"initContainers"`
					Volumes []struct {
						Name      string `yaml:"name"`
						ConfigMap struct {
							Name string `yaml:"name"`
						} `yaml:"configMap"`
						HostPath struct {
							Path string `yaml:"path"`
						} `yaml:"hostPath"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	byKind := map[string]object{}
	for _, file := range []string{"rbac.yaml", "configmap.yaml", "daemonset.yaml"} {
		f, err := os.Open(filepath.Join(dir, file))
		require.NoError(t, err)
		dec := yaml.NewDecoder(f)
		for {
			var o object
			if err := dec.Decode(&o); err != nil {
				require.ErrorIs(t, err, io.EOF, file)
				break
			}
			byKind[o.Kind] = o
		}
		require.NoError(t, f.Close())
	}
	ds, sa, role, binding, cm := byKind["DaemonSet"], byKind["ServiceAccount"], byKind["ClusterRole"], byKind["ClusterRoleBinding"], byKind["ConfigMap"]
	pod := ds.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]

	assert.Equal(t, sa.Metadata.Name, pod.ServiceAccountName)
	require.Len(t, binding.Subjects, 1)
	assert.Equal(t, sa.Metadata.Name, binding.Subjects[0].Name)
	assert.Equal(t, ds.Metadata.Namespace, binding.Subjects[0].Namespace)
	require.Len(t, role.Rules, 1)
	assert.Equal(t, []string{"pods"}, role.Rules[0].Resources)
	assert.ElementsMatch(t, []string{"get", "list", "watch"}, role.Rules[0].Verbs)

	// Two volumes: the config, and the node's directory of the receivers'
	// state, where file_storage keeps it, made the collector's by the init
	// container.
	require.Len(t, pod.Volumes, 2)
	assert.Equal(t, cm.Metadata.Name, pod.Volumes[0].ConfigMap.Name)
	assert.Equal(t, ds.Metadata.Namespace, cm.Metadata.Namespace)
	require.Len(t, c.VolumeMounts, 2)
	assert.Equal(t, pod.Volumes[0].Name, c.VolumeMounts[0].Name)
	config, ok := cm.Data["collector.yaml"]
	require.True(t, ok)
	assert.Equal(t, []string{"--config=" + c.VolumeMounts[0].MountPath + "/collector.yaml"}, c.Args)
	var collector struct {
		Extensions struct {
			FileStorage struct {
				Directory string `yaml:"directory"`
			} `yaml:"file_storage"`
		} `yaml:"extensions"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(config), &collector))
	state := collector.Extensions.FileStorage.Directory
	require.NotEmpty(t, state, "the config keeps the receivers' state")
	assert.Equal(t, pod.Volumes[1].Name, c.VolumeMounts[1].Name)
	assert.Equal(t, state, c.VolumeMounts[1].MountPath, "file_storage's directory is the mounted one")
	assert.Equal(t, state, pod.Volumes[1].HostPath.Path, "a directory of the node's, which outlives the pod")
	require.Len(t, pod.InitContainers, 1)
	require.Len(t, pod.InitContainers[0].VolumeMounts, 1)
	assert.Equal(t, c.VolumeMounts[1], pod.InitContainers[0].VolumeMounts[0], "the init container owns the same directory")

	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name)
	}
	for _, m := range regexp.MustCompile(`\$\{env:(\w+)\}`).FindAllStringSubmatch(config, -1) {
		assert.Contains(t, env, m[1], "the config reads %s", m[1])
	}
}
