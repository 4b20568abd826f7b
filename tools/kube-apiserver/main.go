// Command kube-apiserver is a thin wrapper that builds the upstream
// Kubernetes API server (k8s.io/kubernetes/cmd/kube-apiserver) from the
// published Go modules, so that linstor-db tests can run against a real
// kube-apiserver without downloading release binaries.
//
// It mirrors upstream cmd/kube-apiserver/apiserver.go.
package main

import (
	"os"
	_ "time/tzdata" // for CronJob time zone support (as upstream)

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric registration
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	command := app.NewAPIServerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
