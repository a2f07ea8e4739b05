// Package operatortest checks the Operator example against the
// OpenTelemetry Operator's own API types, in a module of its own: the
// operator's module brings Kubernetes' API and controller-runtime, which the
// receiver's module must not carry.
package operatortest

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/go-logr/logr"
	"github.com/open-telemetry/opentelemetry-operator/apis/v1beta1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// decode reads a manifest of examples/kubernetes into v strictly: a key
// the type does not have, or a value of the wrong type, fails, as the API
// server's strict field validation refuses them.
func decode(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("../" + name)
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(b, v), name)
}

// TestOperatorResourceMatchesManifests decodes opentelemetrycollector.yaml
// into the operator's OpenTelemetryCollector (opentelemetry.io/v1beta1)
// and checks it against daemonset.yaml and configmap.yaml, themselves
// decoded into Kubernetes' types: the same mode, image, service account,
// environment, resources, security, ports, state directory, init
// container and pod annotations, and the same collector config, key for
// key.
func TestOperatorResourceMatchesManifests(t *testing.T) {
	var otelcol v1beta1.OpenTelemetryCollector
	decode(t, "opentelemetrycollector.yaml", &otelcol)
	var ds appsv1.DaemonSet
	decode(t, "daemonset.yaml", &ds)
	var cm corev1.ConfigMap
	decode(t, "configmap.yaml", &cm)

	assert.Equal(t, "opentelemetry.io/v1beta1", otelcol.APIVersion)
	assert.Equal(t, "OpenTelemetryCollector", otelcol.Kind)
	assert.Equal(t, v1beta1.ModeDaemonSet, otelcol.Spec.Mode)
	assert.Equal(t, ds.Namespace, otelcol.Namespace)

	pod := ds.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	spec := otelcol.Spec
	assert.Equal(t, c.Image, spec.Image)
	assert.Equal(t, pod.ServiceAccountName, spec.ServiceAccount)
	assert.Equal(t, c.Env, spec.Env)
	assert.Equal(t, c.Resources, spec.Resources)
	assert.Equal(t, c.SecurityContext, spec.SecurityContext)
	assert.Equal(t, ds.Spec.Template.Annotations, spec.PodAnnotations)
	assert.Equal(t, pod.InitContainers, spec.InitContainers)
	// The exporter's port is the resource's; the telemetry's, the
	// operator derives from the config (and names "metrics", as the raw
	// DaemonSet does).
	require.Len(t, c.Ports, 2)
	require.Len(t, spec.Ports, 1)
	assert.Equal(t, c.Ports[0].Name, spec.Ports[0].Name)
	assert.Equal(t, c.Ports[0].ContainerPort, spec.Ports[0].Port)
	_, telemetry, err := spec.Config.Service.MetricsEndpoint(logr.Discard())
	require.NoError(t, err)
	assert.Equal(t, "metrics", c.Ports[1].Name)
	assert.Equal(t, c.Ports[1].ContainerPort, telemetry, "the raw DaemonSet's telemetry port is the one the operator derives")

	// The state directory, as the raw DaemonSet mounts it; the config is
	// the operator's to mount.
	for _, v := range pod.Volumes {
		if v.Name == "state" {
			assert.Equal(t, []corev1.Volume{v}, spec.Volumes)
		}
	}
	for _, m := range c.VolumeMounts {
		if m.Name == "state" {
			assert.Equal(t, []corev1.VolumeMount{m}, spec.VolumeMounts)
		}
	}
	assert.Len(t, spec.Volumes, 1)

	var want map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(cm.Data["collector.yaml"]), &want))
	// By pointer: the config's sections marshal through pointer methods.
	b, err := json.Marshal(&spec.Config)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, want, got, "the Operator's config is configmap.yaml's")
	assert.Equal(t, []string{"receiver_creator/goroutine"}, spec.Config.Service.Pipelines["metrics"].Receivers)
}

// TestStrictDecodeRefuses: the decoding the test relies on refuses a key
// the operator's types do not have.
func TestStrictDecodeRefuses(t *testing.T) {
	var otelcol v1beta1.OpenTelemetryCollector
	err := yaml.UnmarshalStrict([]byte("apiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\nspec:\n  mode: daemonset\n  replica: 2\n"), &otelcol)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "replica")
}
