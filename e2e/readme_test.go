//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeConfigValidates takes the complete config of the README's "A
// first config", as a user pastes it, and has the ocb-built collector
// validate it: every key known, every value accepted, every component
// built in.
func TestReadmeConfigValidates(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(b), "\n## A first config\n")
	require.True(t, ok, "the README has no section \"A first config\"")
	_, block, ok := strings.Cut(section, "```yaml\n")
	require.True(t, ok, "no YAML in the README's first config")
	config, _, ok := strings.Cut(block, "```")
	require.True(t, ok)
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	out, err := exec.Command(collectorBinary(t), "validate", "--config", path).CombinedOutput()
	require.NoError(t, err, "the README's config does not validate:\n%s\n%s", config, out)
}
